//! Malformed and oversized requests over a raw socket: each gets an error reply, then the
//! connection is closed; replies to the requests before it still arrive; the server goes on
//! serving other connections and never panics.

mod support;

use cairn_resp::frame::Frame;
use cairn_resp::limits::{ARRAY_LEN_MAX, BULK_BYTES_MAX, QUERY_BYTES_MAX};
use support::{encode, is_error, Server, RW};

async fn refused_then_closed(server: &Server, bytes: &[u8], expect: &str) {
    let mut client = server.client(RW).await;
    client.send(bytes).await;
    let reply = client
        .reply()
        .await
        .expect("an error reply before the close");
    assert!(
        is_error(&reply, expect),
        "{reply:?} for {:?}",
        String::from_utf8_lossy(&bytes[..bytes.len().min(40)])
    );
    assert!(
        client.closed().await,
        "the connection is closed after a protocol error"
    );
}

#[tokio::test]
async fn malformed_frames_get_an_error_then_the_connection_closes() {
    let server = Server::start().await;
    refused_then_closed(
        &server,
        b"*abc\r\n",
        "ERR Protocol error: invalid multibulk length",
    )
    .await;
    refused_then_closed(&server, b"*1\r\n:5\r\n", "ERR Protocol error: expected '$'").await;
    refused_then_closed(
        &server,
        b"*1\r\n$-3\r\n",
        "ERR Protocol error: invalid bulk length",
    )
    .await;
    refused_then_closed(&server, b"*1\r\n$2\r\nabcd\r\n", "ERR Protocol error").await;
    refused_then_closed(
        &server,
        b"*99999999999999999999999999999\r\n",
        "ERR Protocol error",
    )
    .await;
    refused_then_closed(&server, b"SET \"unbalanced\r\n", "ERR Protocol error").await;
    // The server still serves.
    let mut client = server.client(RW).await;
    assert_eq!(client.cmd(&["PING"]).await, Frame::Simple("PONG".into()));
}

#[tokio::test]
async fn oversized_lengths_are_refused_before_anything_is_read() {
    let server = Server::start().await;
    let array = format!("*{}\r\n", ARRAY_LEN_MAX + 1);
    refused_then_closed(
        &server,
        array.as_bytes(),
        "ERR Protocol error: invalid multibulk length",
    )
    .await;
    let bulk = format!("*2\r\n$3\r\nGET\r\n${}\r\n", BULK_BYTES_MAX + 1);
    refused_then_closed(
        &server,
        bulk.as_bytes(),
        "ERR Protocol error: invalid bulk length",
    )
    .await;
    // A request that never completes but grows past the input bound.
    let mut many = format!("*{ARRAY_LEN_MAX}\r\n").into_bytes();
    while many.len() <= QUERY_BYTES_MAX {
        many.extend_from_slice(b"$16\r\n0123456789abcdef\r\n");
    }
    refused_then_closed(&server, &many, "ERR Protocol error: request larger than").await;
}

#[tokio::test]
async fn replies_before_a_protocol_error_are_delivered() {
    let server = Server::start().await;
    let mut client = server.client(RW).await;
    let mut bytes = encode(&["SET", "k", "v"]);
    bytes.extend_from_slice(&encode(&["GET", "k"]));
    bytes.extend_from_slice(b"*1\r\n!\r\n");
    client.send(&bytes).await;
    assert_eq!(client.reply().await, Some(Frame::ok()));
    assert_eq!(client.reply().await, Some(support::bulk("v")));
    let error = client.reply().await.expect("the error");
    assert!(is_error(&error, "ERR Protocol error"), "{error:?}");
    assert!(client.closed().await);
}

#[tokio::test]
async fn inline_commands_and_unknown_commands_keep_the_connection() {
    let server = Server::start().await;
    let mut client = server.anonymous().await;
    client
        .send(format!("AUTH {RW}\r\nPING\r\n\r\nECHO \"a b\"\r\n").as_bytes())
        .await;
    assert_eq!(client.reply().await, Some(Frame::ok()));
    assert_eq!(client.reply().await, Some(Frame::Simple("PONG".into())));
    assert_eq!(client.reply().await, Some(support::bulk("a b")));
    let unknown = client.cmd(&["NOSUCH", "x"]).await;
    assert!(
        is_error(&unknown, "ERR unknown command 'NOSUCH'"),
        "{unknown:?}"
    );
    let arity = client.cmd(&["GET"]).await;
    assert!(
        is_error(&arity, "ERR wrong number of arguments for 'get' command"),
        "{arity:?}"
    );
    assert_eq!(client.cmd(&["PING"]).await, Frame::Simple("PONG".into()));
}

#[tokio::test]
async fn random_bytes_never_take_the_server_down() {
    let server = Server::start().await;
    // A fixed xorshift sequence: the same inputs every run.
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..64 {
        let len = (next() % 200) as usize;
        let alphabet = b"*$:+-\r\n0123456789-abcSETGET \"'";
        let bytes: Vec<u8> = (0..len)
            .map(|_| alphabet[(next() as usize) % alphabet.len()])
            .collect();
        let mut client = server.client(RW).await;
        client.send(&bytes).await;
        // Close our side: the server answers what it can and ends the connection.
        let _ = tokio::io::AsyncWriteExt::shutdown(&mut client.stream).await;
        while client.reply().await.is_some() {}
    }
    let mut client = server.client(RW).await;
    assert_eq!(client.cmd(&["PING"]).await, Frame::Simple("PONG".into()));
}

#[tokio::test]
async fn commands_need_authentication() {
    let server = Server::start().await;
    let mut client = server.anonymous().await;
    assert!(is_error(&client.cmd(&["GET", "k"]).await, "NOAUTH"));
    assert!(is_error(&client.cmd(&["AUTH", "wrong"]).await, "WRONGPASS"));
    assert!(is_error(&client.cmd(&["PING"]).await, "NOAUTH"));
    assert_eq!(client.cmd(&["AUTH", "default", RW]).await, Frame::ok());
    assert_eq!(client.cmd(&["PING"]).await, Frame::Simple("PONG".into()));
}
