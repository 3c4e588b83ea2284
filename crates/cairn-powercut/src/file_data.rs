//! A file's bytes: fixed-size blocks shared copy-on-write between the live and the durable
//! image, so that making a file durable (`fsync`) or rolling it back (a power cut) copies
//! pointers, not data.

use std::sync::Arc;

use imbl::OrdMap;
use rand::Rng;

/// The unit of allocation, of `st_blocks` and of write-back at a power cut.
pub const BLOCK_BYTES: usize = 4096;
/// The unit a torn block is torn at: a disk writes a 512-byte sector entirely or not at all.
pub const SECTOR_BYTES: usize = 512;
/// The largest file the filesystem holds (`EFBIG` past it): it lives in memory.
pub const FILE_BYTES_MAX: u64 = 1 << 32;

const _: () = assert!(BLOCK_BYTES.is_multiple_of(SECTOR_BYTES));
const _: () = assert!(FILE_BYTES_MAX.is_multiple_of(BLOCK_BYTES as u64));

type Block = Arc<[u8; BLOCK_BYTES]>;

const BLOCK: u64 = BLOCK_BYTES as u64;

/// Bytes of one file. A missing block is a hole: it reads as zeros and takes no space.
#[derive(Clone, Default)]
pub struct FileData {
    size: u64,
    blocks: OrdMap<u64, Block>,
    /// The smallest size the file was truncated to since it was last synced, if it was: its
    /// blocks from there on were freed, and what was written there since lives in other
    /// blocks of the disk (ext4 does not reuse freed blocks before the truncation commits),
    /// so a write-back may not put it over the durable content.
    shrunk_to: Option<u64>,
}

/// What `FileData::write_back_some` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct WriteBack {
    /// Dirty blocks found (changed since the file was last made durable).
    pub dirty: u64,
    /// Dirty blocks written back whole.
    pub written: u64,
    /// Dirty blocks written back only in part (a prefix of their sectors).
    pub torn: u64,
}

/// Offsets inside a block: always below [`BLOCK_BYTES`], so the casts cannot truncate.
fn in_block(offset: u64) -> usize {
    (offset % BLOCK) as usize
}

impl FileData {
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Bytes allocated (what `st_blocks` reports, in 512-byte units, divided by 512).
    pub fn allocated_bytes(&self) -> u64 {
        self.blocks.len() as u64 * BLOCK
    }

    /// Whether `other` is this very content: the same size and the same (shared) blocks.
    pub fn same_as(&self, other: &FileData) -> bool {
        self.size == other.size
            && self.blocks.len() == other.blocks.len()
            && self
                .blocks
                .iter()
                .zip(other.blocks.iter())
                .all(|((i, a), (j, b))| i == j && Arc::ptr_eq(a, b))
    }

    /// Called on the live copy when it is made durable.
    pub fn mark_synced(&mut self) {
        self.shrunk_to = None;
    }

    /// Up to `len` bytes from `offset`, fewer at the end of the file.
    pub fn read(&self, offset: u64, len: u32) -> Vec<u8> {
        let end = offset.saturating_add(u64::from(len)).min(self.size);
        let mut out = Vec::with_capacity(end.saturating_sub(offset) as usize);
        let mut at = offset;
        while at < end {
            let index = at / BLOCK;
            let from = in_block(at);
            let n = (BLOCK - from as u64).min(end - at) as usize;
            match self.blocks.get(&index) {
                Some(block) => out.extend_from_slice(&block[from..from + n]),
                None => out.resize(out.len() + n, 0),
            }
            at += n as u64;
        }
        out
    }

    /// Writes `data` at `offset`, growing the file if it ends past the end.
    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), i32> {
        let end = offset
            .checked_add(data.len() as u64)
            .filter(|&end| end <= FILE_BYTES_MAX)
            .ok_or(libc::EFBIG)?;
        let mut at = offset;
        let mut rest = data;
        while !rest.is_empty() {
            let from = in_block(at);
            let n = (BLOCK_BYTES - from).min(rest.len());
            let block = self.block_mut(at / BLOCK);
            block[from..from + n].copy_from_slice(&rest[..n]);
            rest = &rest[n..];
            at += n as u64;
        }
        self.size = self.size.max(end);
        Ok(())
    }

    /// A block to write into: allocated if missing, copied if the durable image shares it.
    fn block_mut(&mut self, index: u64) -> &mut [u8; BLOCK_BYTES] {
        let block = self
            .blocks
            .entry(index)
            .or_insert_with(|| Arc::new([0; BLOCK_BYTES]));
        Arc::make_mut(block)
    }

    /// `truncate`/`ftruncate`: drops what lies past `len`, or grows the file with a hole.
    pub fn set_len(&mut self, len: u64) -> Result<(), i32> {
        if len > FILE_BYTES_MAX {
            return Err(libc::EFBIG);
        }
        if len < self.size {
            self.shrunk_to = Some(self.shrunk_to.map_or(len, |s| s.min(len)));
            let first_gone = len.div_ceil(BLOCK);
            let gone: Vec<u64> = self.blocks.range(first_gone..).map(|(&i, _)| i).collect();
            for index in gone {
                self.blocks.remove(&index);
            }
            // The part of the last block past the end must read as zeros if the file grows.
            let tail = in_block(len);
            if tail != 0 && self.blocks.contains_key(&(len / BLOCK)) {
                self.block_mut(len / BLOCK)[tail..].fill(0);
            }
        }
        self.size = len;
        Ok(())
    }

    /// `fallocate` mode 0 or `FALLOC_FL_KEEP_SIZE`: allocates the range's blocks (zeros where
    /// there was a hole), growing the file unless `keep_size`.
    pub fn allocate(&mut self, offset: u64, len: u64, keep_size: bool) -> Result<(), i32> {
        let end = offset
            .checked_add(len)
            .filter(|&end| end <= FILE_BYTES_MAX)
            .ok_or(libc::EFBIG)?;
        for index in offset / BLOCK..end.div_ceil(BLOCK) {
            if !self.blocks.contains_key(&index) {
                self.blocks.insert(index, Arc::new([0; BLOCK_BYTES]));
            }
        }
        if !keep_size {
            self.size = self.size.max(end);
        }
        Ok(())
    }

    /// The power cut's write-back: of the blocks of `live` that differ from `self` (the durable
    /// copy) and lie inside both files' sizes, each reaches `self` with probability one half,
    /// and one of those in four only in part (its first 1 to 7 sectors), as the page cache may
    /// have written any of its dirty pages, in any order, when the power went. Sizes are left
    /// as they are: a size change is durable only through `fsync`. Blocks past a truncation
    /// since the last sync are never written back in place (see `shrunk_to`).
    pub fn write_back_some<R: Rng + ?Sized>(&mut self, live: &FileData, rng: &mut R) -> WriteBack {
        let mut report = WriteBack::default();
        let mut inside = self.size.min(live.size).div_ceil(BLOCK);
        if let Some(shrunk_to) = live.shrunk_to {
            inside = inside.min(shrunk_to / BLOCK);
        }
        for (&index, block) in live.blocks.range(..inside) {
            if self
                .blocks
                .get(&index)
                .is_some_and(|d| Arc::ptr_eq(d, block))
            {
                continue;
            }
            report.dirty += 1;
            if !rng.random_bool(0.5) {
                continue;
            }
            if rng.random_ratio(1, 4) {
                let sectors = rng.random_range(1..BLOCK_BYTES / SECTOR_BYTES);
                let n = sectors * SECTOR_BYTES;
                self.block_mut(index)[..n].copy_from_slice(&block[..n]);
                report.torn += 1;
            } else {
                self.blocks.insert(index, block.clone());
                report.written += 1;
            }
        }
        // A write back never reaches past the durable size.
        let size = self.size;
        let tail = in_block(size);
        if tail != 0 && self.blocks.contains_key(&(size / BLOCK)) {
            self.block_mut(size / BLOCK)[tail..].fill(0);
        }
        report
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn reads_back_what_was_written_across_blocks_and_holes() {
        let mut f = FileData::default();
        f.write(5000, b"hello").expect("in bounds");
        f.write(4090, &[7; 12]).expect("in bounds");
        assert_eq!(f.size(), 5005);
        let all = f.read(0, 10_000);
        assert_eq!(all.len(), 5005);
        assert!(all[..4090].iter().all(|&b| b == 0));
        assert_eq!(&all[4090..4102], &[7; 12]);
        assert_eq!(&all[5000..], b"hello");
        assert_eq!(f.allocated_bytes(), 2 * BLOCK);
    }

    #[test]
    fn truncation_then_growth_reads_zeros() {
        let mut f = FileData::default();
        f.write(0, &[1; 10_000]).expect("in bounds");
        f.set_len(100).expect("in bounds");
        f.set_len(9000).expect("in bounds");
        let all = f.read(0, 20_000);
        assert_eq!(all.len(), 9000);
        assert!(all[..100].iter().all(|&b| b == 1));
        assert!(all[100..].iter().all(|&b| b == 0));
        assert_eq!(f.allocated_bytes(), BLOCK);
    }

    #[test]
    fn a_durable_copy_is_unaffected_by_later_writes() {
        let mut live = FileData::default();
        live.write(0, b"synced").expect("in bounds");
        let durable = live.clone();
        live.write(0, b"unsync").expect("in bounds");
        assert_eq!(durable.read(0, 6), b"synced");
        assert_eq!(live.read(0, 6), b"unsync");
    }

    #[test]
    fn write_back_takes_only_dirty_blocks_inside_the_durable_size() {
        let mut live = FileData::default();
        live.allocate(0, 4 * BLOCK, false).expect("in bounds");
        let mut durable = live.clone();
        live.write(0, &[9; 3 * BLOCK_BYTES]).expect("in bounds");
        live.write(4 * BLOCK, &[9; 100]).expect("in bounds");
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let report = durable.write_back_some(&live, &mut rng);
        assert_eq!(report.dirty, 3);
        assert_eq!(durable.size(), 4 * BLOCK);
        let bytes = durable.read(0, u32::MAX);
        // Every sector is old (0) or new (9), and the fourth block was never dirty.
        for sector in bytes.chunks(SECTOR_BYTES) {
            assert!(sector.iter().all(|&b| b == sector[0]));
        }
        assert!(bytes[3 * BLOCK_BYTES..].iter().all(|&b| b == 0));
    }

    #[test]
    fn write_back_never_puts_data_written_after_a_truncation_over_durable_data() {
        let mut live = FileData::default();
        live.write(0, &[1; 4 * BLOCK_BYTES]).expect("in bounds");
        live.mark_synced();
        let mut durable = live.clone();
        live.set_len(BLOCK + 10).expect("in bounds");
        live.write(0, &[2; 4 * BLOCK_BYTES]).expect("in bounds");
        let mut rng = rand::rngs::StdRng::seed_from_u64(1);
        for _ in 0..20 {
            durable.write_back_some(&live, &mut rng);
        }
        let bytes = durable.read(0, u32::MAX);
        assert!(bytes[BLOCK_BYTES..].iter().all(|&b| b == 1));
    }
}
