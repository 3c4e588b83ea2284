//! Connection and server commands that need no database: PING, ECHO, and the replies of
//! HELLO, INFO, CLIENT, COMMAND and CONFIG. AUTH and SELECT, which open databases, live in
//! the connection (`connection.rs`).

use crate::cmd::{arg, is, COMMANDS};
use crate::error::Result;
use crate::frame::{Frame, Protocol};
use crate::glob;
use crate::limits::{CONNECTIONS_MAX, DATABASES_MAX, IDLE_TIMEOUT_MS};
use crate::view::View;

/// The Redis version cairn answers as (clients gate features on it).
pub const REDIS_VERSION: &str = "7.2.0";

/// `PING [message]`
pub fn ping(args: &[Vec<u8>], _: &mut dyn View) -> Result<Frame> {
    Ok(match args.get(1) {
        Some(message) => Frame::Bulk(message.clone()),
        None => Frame::Simple("PONG".into()),
    })
}

/// ECHO message
pub fn echo(args: &[Vec<u8>], _: &mut dyn View) -> Result<Frame> {
    Ok(Frame::Bulk(arg(args, 1).to_vec()))
}

/// HELLO's reply.
pub fn hello_reply(protocol: Protocol, id: u64) -> Frame {
    let proto = match protocol {
        Protocol::Resp2 => 2,
        Protocol::Resp3 => 3,
    };
    Frame::Map(vec![
        (Frame::text("server"), Frame::text("redis")),
        (Frame::text("version"), Frame::text(REDIS_VERSION)),
        (Frame::text("proto"), Frame::Integer(proto)),
        (
            Frame::text("id"),
            Frame::Integer(i64::try_from(id).unwrap_or(i64::MAX)),
        ),
        (Frame::text("mode"), Frame::text("standalone")),
        (Frame::text("role"), Frame::text("master")),
        (Frame::text("modules"), Frame::Array(Vec::new())),
    ])
}

/// `INFO [section]`: what clients look for (version, mode, `loading:0`), and cairn's own.
pub fn info(connected: usize, uptime_s: u64, port: u16) -> Frame {
    let text = format!(
        "# Server\r\nredis_version:{REDIS_VERSION}\r\nredis_mode:standalone\r\n\
         cairn_version:{}\r\nprocess_id:{}\r\ntcp_port:{port}\r\nuptime_in_seconds:{uptime_s}\r\n\r\n\
         # Clients\r\nconnected_clients:{connected}\r\nmaxclients:{CONNECTIONS_MAX}\r\n\r\n\
         # Persistence\r\nloading:0\r\naof_enabled:1\r\n\r\n\
         # Replication\r\nrole:master\r\nconnected_slaves:0\r\n",
        env!("CARGO_PKG_VERSION"),
        std::process::id()
    );
    Frame::Bulk(text.into_bytes())
}

/// CONFIG GET pattern [pattern ...]: a few read-only settings, so that tools which ask
/// (redis-benchmark) see cairn's durability. CONFIG SET is refused.
pub fn config(args: &[Vec<u8>]) -> Frame {
    let sub = arg(args, 1);
    if is(sub, "RESETSTAT") {
        return Frame::ok();
    }
    if !is(sub, "GET") || args.len() < 3 {
        return Frame::err(format!(
            "CONFIG {} is not supported by cairn (only CONFIG GET)",
            String::from_utf8_lossy(sub)
        ));
    }
    let settings = [
        ("appendonly", "yes".to_owned()),
        ("appendfsync", "always".to_owned()),
        ("save", String::new()),
        ("databases", DATABASES_MAX.to_string()),
        ("maxclients", CONNECTIONS_MAX.to_string()),
        ("timeout", (IDLE_TIMEOUT_MS / 1000).to_string()),
    ];
    let mut pairs = Vec::new();
    for (name, value) in settings {
        if args
            .iter()
            .skip(2)
            .any(|p| glob::matches(&p.to_ascii_lowercase(), name.as_bytes()))
        {
            pairs.push((Frame::text(name), Frame::text(value)));
        }
    }
    Frame::Map(pairs)
}

/// COMMAND [COUNT | INFO name ... | DOCS ... | LIST]
pub fn command(args: &[Vec<u8>]) -> Frame {
    let entry = |spec: &crate::cmd::Spec| {
        Frame::Array(vec![
            Frame::text(spec.name),
            Frame::Integer(i64::from(spec.arity)),
            Frame::Array(
                spec.flags
                    .iter()
                    .map(|f| Frame::Simple((*f).into()))
                    .collect(),
            ),
            Frame::Integer(spec.keys.0),
            Frame::Integer(spec.keys.1),
            Frame::Integer(spec.keys.2),
            Frame::Array(Vec::new()),
            Frame::Array(Vec::new()),
            Frame::Array(Vec::new()),
            Frame::Array(Vec::new()),
        ])
    };
    let sub = arg(args, 1);
    if args.len() == 1 {
        return Frame::Array(COMMANDS.iter().map(entry).collect());
    }
    if is(sub, "COUNT") {
        return Frame::Integer(i64::try_from(COMMANDS.len()).unwrap_or(0));
    }
    if is(sub, "LIST") {
        return Frame::Array(COMMANDS.iter().map(|s| Frame::text(s.name)).collect());
    }
    if is(sub, "INFO") {
        return Frame::Array(
            args.iter()
                .skip(2)
                .map(|name| crate::cmd::lookup(name).map_or(Frame::Null, entry))
                .collect(),
        );
    }
    if is(sub, "DOCS") {
        return Frame::Map(Vec::new());
    }
    Frame::err(format!(
        "unknown subcommand '{}'. Try COMMAND HELP.",
        String::from_utf8_lossy(sub)
    ))
}

/// A client name CLIENT SETNAME accepts: printable ASCII without spaces.
pub fn valid_client_name(name: &[u8]) -> bool {
    name.iter().all(|&b| b.is_ascii_graphic())
}
