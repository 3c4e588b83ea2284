//! Redis's glob patterns (SCAN MATCH): `*`, `?`, `[abc]`, `[^a-z]`, and `\` to escape.
//! Matched with one backtracking point (the last `*`), so a pattern costs at most
//! pattern × text steps, never the exponential time of naive recursion.

/// True if `text` matches `pattern`.
pub fn matches(pattern: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0usize, 0usize);
    // After the last `*`: where the pattern resumes, and the next text position to try.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        let step = match pattern.get(p) {
            Some(b'*') => {
                star = Some((p + 1, t));
                p += 1;
                continue;
            }
            Some(_) => one(pattern, p, text.get(t).copied()),
            None => None,
        };
        match step {
            Some(next_p) => {
                p = next_p;
                t += 1;
            }
            None => match star {
                Some((sp, st)) => {
                    p = sp;
                    t = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    pattern
        .get(p..)
        .unwrap_or_default()
        .iter()
        .all(|&b| b == b'*')
}

/// Matches one text byte against the pattern element at `p`: the position after the element
/// if it matches.
fn one(pattern: &[u8], p: usize, c: Option<u8>) -> Option<usize> {
    let c = c?;
    match pattern.get(p)? {
        b'?' => Some(p + 1),
        b'[' => class(pattern, p + 1, c),
        b'\\' => match pattern.get(p + 1) {
            Some(&e) => (e == c).then_some(p + 2),
            None => (c == b'\\').then_some(p + 1),
        },
        &b => (b == c).then_some(p + 1),
    }
}

/// A `[...]` class starting after its `[`: the position after its `]` if `c` is in it. An
/// unterminated class runs to the end of the pattern, as in Redis.
fn class(pattern: &[u8], mut p: usize, c: u8) -> Option<usize> {
    let negate = pattern.get(p) == Some(&b'^');
    if negate {
        p += 1;
    }
    let mut found = false;
    loop {
        match pattern.get(p) {
            None => break,
            Some(b']') => {
                p += 1;
                break;
            }
            Some(b'\\') if p + 1 < pattern.len() => {
                found |= pattern.get(p + 1) == Some(&c);
                p += 2;
            }
            Some(&lo) if pattern.get(p + 1) == Some(&b'-') && p + 2 < pattern.len() => {
                let hi = pattern.get(p + 2).copied().unwrap_or(lo);
                let (lo, hi) = if lo <= hi { (lo, hi) } else { (hi, lo) };
                found |= (lo..=hi).contains(&c);
                p += 3;
            }
            Some(&b) => {
                found |= b == c;
                p += 1;
            }
        }
    }
    (found != negate).then_some(p)
}

#[cfg(test)]
mod tests {
    use super::matches;

    #[test]
    fn globs_match_as_in_redis() {
        let cases: &[(&str, &str, bool)] = &[
            ("*", "", true),
            ("*", "anything", true),
            ("key:*", "key:1", true),
            ("key:*", "kex:1", false),
            ("h?llo", "hello", true),
            ("h?llo", "hllo", false),
            ("h[ae]llo", "hallo", true),
            ("h[ae]llo", "hillo", false),
            ("h[^e]llo", "hallo", true),
            ("h[^e]llo", "hello", false),
            ("h[a-b]llo", "hbllo", true),
            ("h\\*llo", "h*llo", true),
            ("h\\*llo", "hallo", false),
            ("*a*b*c*", "xxaxxbxxcxx", true),
            ("*a*b*c*", "xxaxxcxxbxx", false),
            ("a*", "b", false),
        ];
        for (pattern, text, want) in cases {
            assert_eq!(
                matches(pattern.as_bytes(), text.as_bytes()),
                *want,
                "{pattern} ~ {text}"
            );
        }
    }

    #[test]
    fn a_pathological_pattern_is_fast() {
        let pattern = "*a".repeat(30) + "b";
        let text = "a".repeat(1000);
        assert!(!matches(pattern.as_bytes(), text.as_bytes()));
    }
}
