//! One client connection: reads requests, runs them in order and writes the replies in the
//! same order.
//!
//! Pipelining: every complete request in the input is handled before anything is written.
//! Writes go to the database's writer without waiting, so the writes of a pipeline (and of
//! all connections) share atomic writes and durable syncs; a read first waits for the
//! connection's earlier writes, so it sees them. Replies go out when the input holds no more
//! complete request, or a bound is reached.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use cairn_server::Access;
use cairn_store::Database;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::oneshot;

use crate::cmd::transactions::{exec_abort, Multi, Watched};
use crate::cmd::{self, arg, is, server, Kind, Spec};
use crate::error::Error;
use crate::frame::{Frame, Protocol};
use crate::keyspace::head_key;
use crate::limits::{
    CLIENT_NAME_BYTES_MAX, DATABASES_MAX, FRAME_TIMEOUT_MS, IDLE_TIMEOUT_MS, OUTPUT_FLUSH_BYTES,
    PIPELINE_BYTES_MAX, PIPELINE_WRITES_MAX, QUERY_BYTES_MAX, WRITE_TIMEOUT_MS,
};
use crate::listener::{database_name, Shared};
use crate::metrics::Counters;
use crate::parse::parse;
use crate::view::{read_point, NoView, SnapshotView};
use crate::writer::{WriteOp, Writer};

/// Bytes read from the socket at a time, at most.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// How much earlier than its bound a read's timeout may fire (see `serve`).
const READ_DEADLINE_SLACK: Duration = Duration::from_secs(1);

/// A reply in order: ready, or waiting for a writer.
enum Pending {
    Ready(Frame, Protocol),
    Waiting(oneshot::Receiver<Frame>, Protocol),
}

/// The database a connection has selected, once opened.
pub(crate) struct Open {
    pub(crate) index: u32,
    pub(crate) name: String,
    pub(crate) db: Database,
    pub(crate) writer: Writer,
    pub(crate) access: Access,
}

/// Whether to go on after a request.
#[derive(PartialEq, Eq)]
enum Flow {
    Continue,
    Close,
}

/// One connection's state.
pub struct Connection {
    shared: Arc<Shared>,
    stream: TcpStream,
    id: u64,
    input: Vec<u8>,
    output: Vec<u8>,
    pending: VecDeque<Pending>,
    /// Writes among `pending`, and the bytes of their commands.
    pending_writes: usize,
    pending_bytes: usize,
    protocol: Protocol,
    /// The access token AUTH accepted.
    token: Option<String>,
    index: u32,
    open: Option<Open>,
    name: Option<Vec<u8>>,
    multi: Option<Multi>,
    watched: Watched,
    /// When the read waiting for the next request (or the rest of one) gives up.
    read_deadline: std::pin::Pin<Box<tokio::time::Sleep>>,
}

impl Connection {
    /// A new connection, numbered `id`.
    pub fn new(shared: Arc<Shared>, stream: TcpStream, id: u64) -> Self {
        Connection {
            shared,
            stream,
            id,
            input: Vec::with_capacity(4096),
            output: Vec::with_capacity(4096),
            pending: VecDeque::new(),
            pending_writes: 0,
            pending_bytes: 0,
            protocol: Protocol::Resp2,
            token: None,
            index: 0,
            open: None,
            name: None,
            multi: None,
            watched: Watched::default(),
            read_deadline: Box::pin(tokio::time::sleep(Duration::from_millis(IDLE_TIMEOUT_MS))),
        }
    }

    /// Serves the connection until the client leaves, breaks the protocol or times out.
    pub async fn run(mut self) {
        if let Err(e) = self.serve().await {
            tracing::debug!(id = self.id, error = %e, "RESP connection ended");
        }
    }

    async fn serve(&mut self) -> std::io::Result<()> {
        loop {
            // Every complete request in the input.
            let mut used = 0;
            loop {
                let request = match parse(&self.input[used..]) {
                    Ok(Some(request)) => request,
                    Ok(None) => break,
                    Err(e) => {
                        // Answer what came before, then the error, then close.
                        Counters::add(&self.shared.counters.protocol_errors);
                        self.input.drain(..used);
                        self.push(Frame::Error(e.0));
                        self.flush().await?;
                        return Ok(());
                    }
                };
                used += request.len;
                if self.handle(request.args).await == Flow::Close {
                    self.flush().await?;
                    return Ok(());
                }
                if self.pending_writes >= PIPELINE_WRITES_MAX
                    || self.pending_bytes >= PIPELINE_BYTES_MAX
                    || self.output.len() >= OUTPUT_FLUSH_BYTES
                {
                    self.flush().await?;
                }
            }
            self.input.drain(..used);
            self.flush().await?;
            // Read on: idle between requests, or in the middle of one.
            let (timeout_ms, what) = if self.input.is_empty() {
                (IDLE_TIMEOUT_MS, "idle")
            } else {
                (FRAME_TIMEOUT_MS, "request")
            };
            // Into spare capacity (not zero-filled first: that cost more than the parsing),
            // never past the input bound.
            let room = QUERY_BYTES_MAX
                .saturating_sub(self.input.len())
                .min(READ_CHUNK_BYTES);
            self.input.reserve(room);
            let mut limited = bytes::BufMut::limit(&mut self.input, room);
            // One timer per connection, moved only when it must come closer or is more
            // than READ_DEADLINE_SLACK early: re-arming a timer for every read cost more
            // than parsing the request. So a timeout may end a connection up to that much
            // early.
            let wanted = tokio::time::Instant::now() + Duration::from_millis(timeout_ms);
            let armed = self.read_deadline.deadline();
            if armed > wanted || wanted - armed > READ_DEADLINE_SLACK {
                self.read_deadline.as_mut().reset(wanted);
            }
            let read = tokio::select! {
                biased;
                read = self.stream.read_buf(&mut limited) => Ok(read),
                () = self.read_deadline.as_mut() => Err(()),
            };
            let n = match read {
                Ok(Ok(n)) => n,
                Ok(Err(e)) => return Err(e),
                Err(()) => {
                    if what == "request" {
                        Counters::add(&self.shared.counters.protocol_errors);
                        self.push(Frame::err(format!(
                            "Protocol error: a request took longer than {FRAME_TIMEOUT_MS} ms to arrive"
                        )));
                        self.flush().await?;
                    }
                    return Ok(());
                }
            };
            if n == 0 {
                return Ok(());
            }
        }
    }

    /// Queues a ready reply.
    fn push(&mut self, frame: Frame) {
        if matches!(frame, Frame::Error(_)) {
            Counters::add(&self.shared.counters.error_replies);
        }
        if self.pending.is_empty() {
            frame.encode(self.protocol, &mut self.output);
        } else {
            self.pending.push_back(Pending::Ready(frame, self.protocol));
        }
    }

    /// Waits for every pending write's reply (a read must see them); encodes what is ready.
    async fn settle(&mut self) {
        while let Some(pending) = self.pending.pop_front() {
            let (frame, protocol) = match pending {
                Pending::Ready(frame, protocol) => (frame, protocol),
                Pending::Waiting(receiver, protocol) => {
                    let frame = receiver.await.unwrap_or_else(|_| {
                        Frame::err("the database's writer stopped (the server is shutting down)")
                    });
                    // (Ready replies were counted when pushed.)
                    if matches!(frame, Frame::Error(_)) {
                        Counters::add(&self.shared.counters.error_replies);
                    }
                    (frame, protocol)
                }
            };
            frame.encode(protocol, &mut self.output);
        }
        self.pending_writes = 0;
        self.pending_bytes = 0;
    }

    /// Settles, then writes every reply out.
    async fn flush(&mut self) -> std::io::Result<()> {
        self.settle().await;
        if self.output.is_empty() {
            return Ok(());
        }
        let write = self.stream.write_all(&self.output);
        match tokio::time::timeout(Duration::from_millis(WRITE_TIMEOUT_MS), write).await {
            Ok(result) => result?,
            Err(_) => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the client did not read its replies",
                ))
            }
        }
        self.output.clear();
        if self.output.capacity() > 4 * OUTPUT_FLUSH_BYTES {
            self.output.shrink_to(OUTPUT_FLUSH_BYTES);
        }
        Ok(())
    }

    /// Handles one request.
    async fn handle(&mut self, args: Vec<Vec<u8>>) -> Flow {
        let Some(name) = args.first() else {
            return Flow::Continue;
        };
        let found = cmd::lookup_index(name);
        self.shared.counters.call(found.map(|(index, _)| index));
        let Some((_, spec)) = found else {
            let reply = cmd::unknown(&args);
            self.reply_or_fail_multi(reply);
            return Flow::Continue;
        };
        if !spec.arity_ok(args.len()) {
            self.reply_or_fail_multi(Error::Arity(spec.name.into()).reply());
            return Flow::Continue;
        }
        if self.token.is_none() && !matches!(spec.name, "auth" | "hello" | "quit") {
            self.push(Frame::Error("NOAUTH Authentication required.".into()));
            return Flow::Continue;
        }
        if self.multi.is_some()
            && !matches!(spec.name, "exec" | "discard" | "multi" | "watch" | "quit")
        {
            self.queue_in_multi(spec, args).await;
            return Flow::Continue;
        }
        match spec.kind {
            Kind::Pure => {
                let reply = run_reply(&args, &mut NoView(self.shared.limits.clone()));
                self.push(reply);
            }
            Kind::Read => self.read(&args).await,
            Kind::Write => self.write(spec, args).await,
            Kind::Scan => self.scan(&args).await,
            Kind::Connection => return self.connection_command(spec, args).await,
        }
        Flow::Continue
    }

    /// An error reply; inside MULTI it also dooms the transaction.
    fn reply_or_fail_multi(&mut self, reply: Frame) {
        let reply = match &mut self.multi {
            Some(multi) => multi.refuse(reply),
            None => reply,
        };
        self.push(reply);
    }

    async fn queue_in_multi(&mut self, spec: &Spec, args: Vec<Vec<u8>>) {
        if !matches!(spec.kind, Kind::Read | Kind::Write | Kind::Pure) {
            self.reply_or_fail_multi(Frame::err(format!(
                "'{}' is not allowed inside a transaction in cairn",
                spec.name
            )));
            return;
        }
        if spec.kind == Kind::Write {
            match self.database().await {
                Ok(open) if open.access == Access::ReadOnly => {
                    self.reply_or_fail_multi(no_write_permission(spec));
                    return;
                }
                Ok(_) => {}
                Err(reply) => {
                    self.reply_or_fail_multi(reply);
                    return;
                }
            }
        }
        let reply = match &mut self.multi {
            Some(multi) => multi.queue(args),
            None => Frame::err("internal error: no transaction"),
        };
        self.push(reply);
    }

    /// The selected database, opened (and created, for a read-write token) on first use.
    async fn database(&mut self) -> Result<&Open, Frame> {
        if self.open.as_ref().is_none_or(|o| o.index != self.index) {
            let token = self.token.clone().unwrap_or_default();
            self.open = Some(self.shared.open(&token, self.index).await?);
        }
        self.open
            .as_ref()
            .ok_or_else(|| Frame::err("internal error: no database"))
    }

    async fn read(&mut self, args: &[Vec<u8>]) {
        self.settle().await;
        let limits = self.shared.limits.clone();
        let reply = match self.database().await {
            Ok(open) => run_reply(args, &mut SnapshotView::new(&open.db, &limits)),
            Err(reply) => reply,
        };
        self.push(reply);
    }

    async fn write(&mut self, spec: &Spec, args: Vec<Vec<u8>>) {
        let size: usize = args.iter().map(|a| a.len() + 16).sum();
        let writer = match self.database().await {
            Ok(open) if open.access == Access::ReadOnly => {
                self.push(no_write_permission(spec));
                return;
            }
            Ok(open) => open.writer.clone(),
            Err(reply) => {
                self.push(reply);
                return;
            }
        };
        self.submit(writer, vec![args], None, size).await;
    }

    async fn submit(
        &mut self,
        writer: Writer,
        commands: Vec<Vec<Vec<u8>>>,
        transaction: Option<Vec<(Vec<u8>, Option<cairn_model::Versionstamp>)>>,
        size: usize,
    ) {
        let (reply, receiver) = oneshot::channel();
        let op = WriteOp {
            client: self.id,
            commands,
            transaction,
            reply,
        };
        if writer.submit(op).await.is_err() {
            self.push(Frame::err(
                "the database's writer stopped (the server is shutting down)",
            ));
            return;
        }
        self.pending
            .push_back(Pending::Waiting(receiver, self.protocol));
        self.pending_writes += 1;
        self.pending_bytes += size;
    }

    async fn scan(&mut self, args: &[Vec<u8>]) {
        self.settle().await;
        let shared = self.shared.clone();
        let reply = match self.database().await {
            Ok(open) => {
                let result = if is(arg(args, 0), "DBSIZE") {
                    cmd::keys::dbsize(&open.db).await
                } else if is(arg(args, 0), "KEYS") {
                    cmd::keys::keys(args, &open.db).await
                } else {
                    cmd::keys::scan(args, &open.db, &open.name, &shared.cursors).await
                };
                result.unwrap_or_else(|e| e.reply())
            }
            Err(reply) => reply,
        };
        self.push(reply);
    }

    async fn connection_command(&mut self, spec: &Spec, args: Vec<Vec<u8>>) -> Flow {
        let reply = match spec.name {
            "auth" => self.auth(&args),
            "hello" => self.hello(&args),
            "select" => self.select(&args).await,
            "quit" => {
                self.push(Frame::ok());
                return Flow::Close;
            }
            "info" => server::info(
                self.shared.connected(),
                self.shared.uptime_s(),
                self.shared.port,
            ),
            "client" => self.client(&args),
            "command" => server::command(&args),
            "config" => server::config(&args),
            "multi" => self.multi(),
            "exec" => return self.exec().await,
            "discard" => self.discard(),
            "watch" => self.watch(&args).await,
            "unwatch" => {
                self.watched.clear();
                Frame::ok()
            }
            other => Frame::err(format!("internal error: unhandled command {other}")),
        };
        self.push(reply);
        Flow::Continue
    }

    /// AUTH [username] token: the token must open at least one of the Redis databases; the
    /// username is ignored.
    fn auth(&mut self, args: &[Vec<u8>]) -> Frame {
        if args.len() > 3 {
            return Frame::Error("ERR syntax error".into());
        }
        let token = args.last().map(Vec::as_slice).unwrap_or_default();
        self.try_auth(token)
    }

    fn try_auth(&mut self, token: &[u8]) -> Frame {
        let token = String::from_utf8_lossy(token).into_owned();
        let opens_any = (0..DATABASES_MAX).any(|i| {
            self.shared
                .backend
                .auth
                .access_token(&token, &database_name(i))
                .is_some()
        });
        if !opens_any {
            return Frame::Error(
                "WRONGPASS invalid username-password pair or user is disabled.".into(),
            );
        }
        self.token = Some(token);
        // The selected database is opened again under the new token's grant.
        self.open = None;
        Frame::ok()
    }

    /// HELLO [protover [AUTH username password] [SETNAME clientname]]
    fn hello(&mut self, args: &[Vec<u8>]) -> Frame {
        let mut protocol = self.protocol;
        if let Some(version) = args.get(1) {
            protocol = match version.as_slice() {
                b"2" => Protocol::Resp2,
                b"3" => Protocol::Resp3,
                _ if cmd::parse_int(version).is_none() => {
                    return Frame::Error(
                        "ERR Protocol version is not an integer or out of range".into(),
                    )
                }
                _ => return Frame::Error("NOPROTO unsupported protocol version".into()),
            };
        }
        let mut i = 2;
        let mut name = None;
        while i < args.len() {
            if is(arg(args, i), "AUTH") && i + 2 < args.len() {
                let reply = self.try_auth(arg(args, i + 2));
                if reply != Frame::ok() {
                    return reply;
                }
                i += 3;
            } else if is(arg(args, i), "SETNAME") && i + 1 < args.len() {
                name = Some(arg(args, i + 1).to_vec());
                i += 2;
            } else {
                return Frame::Error("ERR syntax error in HELLO option".into());
            }
        }
        if self.token.is_none() {
            return Frame::Error(
                "NOAUTH HELLO must be called with the client already authenticated, otherwise \
                 the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the \
                 client and select the RESP protocol version at the same time"
                    .into(),
            );
        }
        if let Some(name) = name {
            self.name = Some(name);
        }
        self.protocol = protocol;
        server::hello_reply(protocol, self.id)
    }

    /// SELECT index: database 0 is "default", n is "db<n>" (docs/resp.md).
    async fn select(&mut self, args: &[Vec<u8>]) -> Frame {
        let Some(index) = cmd::parse_int(arg(args, 1)) else {
            return Error::NotInteger.reply();
        };
        let Some(index) = u32::try_from(index).ok().filter(|&i| i < DATABASES_MAX) else {
            return Frame::err("DB index is out of range");
        };
        let token = self.token.clone().unwrap_or_default();
        match self.shared.open(&token, index).await {
            Ok(open) => {
                self.index = index;
                self.open = Some(open);
                Frame::ok()
            }
            Err(reply) => reply,
        }
    }

    fn client(&mut self, args: &[Vec<u8>]) -> Frame {
        let sub = arg(args, 1).to_ascii_uppercase();
        match sub.as_slice() {
            b"SETNAME" if args.len() == 3 => {
                let name = arg(args, 2);
                if name.len() > CLIENT_NAME_BYTES_MAX || !server::valid_client_name(name) {
                    return Frame::err(
                        "Client names cannot contain spaces, newlines or special characters.",
                    );
                }
                self.name = (!name.is_empty()).then(|| name.to_vec());
                Frame::ok()
            }
            b"GETNAME" => self.name.clone().map_or(Frame::Null, Frame::Bulk),
            b"ID" => Frame::Integer(i64::try_from(self.id).unwrap_or(i64::MAX)),
            b"SETINFO" | b"NO-EVICT" | b"NO-TOUCH" => Frame::ok(),
            b"INFO" | b"LIST" => {
                let name =
                    String::from_utf8_lossy(self.name.as_deref().unwrap_or_default()).into_owned();
                let line = format!("id={} name={name} db={}\n", self.id, self.index);
                Frame::Bulk(line.into_bytes())
            }
            _ => Frame::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.",
                String::from_utf8_lossy(arg(args, 1))
            )),
        }
    }

    fn multi(&mut self) -> Frame {
        if self.multi.is_some() {
            return Frame::err("MULTI calls can not be nested");
        }
        self.multi = Some(Multi::default());
        Frame::ok()
    }

    fn discard(&mut self) -> Frame {
        if self.multi.take().is_none() {
            return Frame::err("DISCARD without MULTI");
        }
        self.watched.clear();
        Frame::ok()
    }

    async fn exec(&mut self) -> Flow {
        let Some(multi) = self.multi.take() else {
            self.push(Frame::err("EXEC without MULTI"));
            return Flow::Continue;
        };
        let watched = std::mem::take(&mut self.watched);
        if multi.failed {
            self.push(exec_abort());
            return Flow::Continue;
        }
        if watched.index.is_some_and(|i| i != self.index) {
            self.push(Frame::err(
                "the watched keys are in another database than the one selected; cairn \
                 checks them only in the database they were watched in",
            ));
            return Flow::Continue;
        }
        let writer = match self.database().await {
            Ok(open) => open.writer.clone(),
            Err(reply) => {
                self.push(reply);
                return Flow::Continue;
            }
        };
        let size = multi.commands.iter().flatten().map(|a| a.len() + 16).sum();
        self.submit(writer, multi.commands, Some(watched.keys), size)
            .await;
        Flow::Continue
    }

    async fn watch(&mut self, args: &[Vec<u8>]) -> Frame {
        if self.multi.is_some() {
            return Frame::err("WATCH inside MULTI is not allowed");
        }
        // The versions must include this connection's own earlier writes.
        self.settle().await;
        let index = self.index;
        let db = match self.database().await {
            Ok(open) => open.db.clone(),
            Err(reply) => return reply,
        };
        for name in args.iter().skip(1) {
            let version = match read_point(&db, &head_key(name)) {
                Ok(slot) => slot.and_then(|s| s.versionstamp),
                Err(e) => return e.reply(),
            };
            if let Err(reply) = self.watched.add(index, name.clone(), version) {
                return reply;
            }
        }
        Frame::ok()
    }
}

fn run_reply(args: &[Vec<u8>], view: &mut dyn crate::view::View) -> Frame {
    cmd::run(args, view).unwrap_or_else(|e| e.reply())
}

fn no_write_permission(spec: &Spec) -> Frame {
    Frame::Error(format!(
        "NOPERM this token is read-only: it has no permissions to run the '{}' command",
        spec.name
    ))
}
