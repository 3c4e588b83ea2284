//! The server over raw HTTP/1.1 bytes on a real socket: the metadata exchange as the clients
//! check it, tokens (wrong, access-instead-of-data, read-only, other database), protobuf
//! round trips, and bad input answered with 4xx and a plain-text reason — never a 5xx, which
//! Deno's clients would retry forever.

use std::net::SocketAddr;
use std::time::Duration;

use cairn_model::{key, AtomicWrite, KvValue, Mutation, MutationKind, ReadRange};
use cairn_proto::messages as pb;
use cairn_proto::Message;
use cairn_server::{ServerConfig, TokenGrant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    done: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start(watches_per_token_max: usize) -> Server {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = ServerConfig::new(dir.path());
        config.tokens = vec![
            TokenGrant::read_write_all("rw"),
            TokenGrant::read_only_all("ro"),
        ];
        config.watches_per_token_max = watches_per_token_max;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let done = tokio::spawn(cairn_server::serve(config, listener, async {
            let _ = stopped.await;
        }));
        Server {
            addr,
            stop: Some(stop),
            done: Some(done),
            _dir: dir,
        }
    }

    async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(done) = self.done.take() {
            done.await.expect("server task").expect("server ran");
        }
    }
}

/// Sends raw bytes, returns (status, headers text, body) of the response. Reads the headers,
/// then `Content-Length` bytes: the server need not close the connection for the test to end.
async fn raw(addr: SocketAddr, request: &[u8]) -> (u16, String, Vec<u8>) {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let read = async {
        let mut response = Vec::new();
        let mut chunk = [0u8; 4096];
        loop {
            if let Some(split) = response.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&response[..split]).to_string();
                let length = head
                    .lines()
                    .find_map(|l| {
                        l.to_ascii_lowercase()
                            .strip_prefix("content-length:")
                            .map(|v| v.trim().to_owned())
                    })
                    .and_then(|v| v.parse::<usize>().ok());
                if let Some(length) = length {
                    if response.len() >= split + 4 + length {
                        return (head, response[split + 4..split + 4 + length].to_vec());
                    }
                }
            }
            let n = stream.read(&mut chunk).await.expect("read");
            if n == 0 {
                let split = response
                    .windows(4)
                    .position(|w| w == b"\r\n\r\n")
                    .expect("header end");
                let head = String::from_utf8_lossy(&response[..split]).to_string();
                return (head, response[split + 4..].to_vec());
            }
            response.extend_from_slice(&chunk[..n]);
        }
    };
    let (head, body) = tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("response in time");
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("status");
    (status, head, body)
}

async fn post(
    addr: SocketAddr,
    path: &str,
    token: &str,
    content_type: &str,
    body: &[u8],
) -> (u16, String, Vec<u8>) {
    let mut request = format!(
        "POST {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    raw(addr, &request).await
}

const METADATA_REQUEST: &[u8] = br#"{"supportedVersions":[1,2,3]}"#;

/// The metadata exchange's JSON for `path` with `token`.
async fn metadata(addr: SocketAddr, path: &str, token: &str) -> serde_json::Value {
    let (status, head, body) = post(addr, path, token, "application/json", METADATA_REQUEST).await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/json\r\n")
            || head
                .to_ascii_lowercase()
                .ends_with("content-type: application/json"),
        "{head}"
    );
    serde_json::from_slice(&body).expect("json")
}

/// The data path's endpoint and token from a metadata answer.
fn data_path(meta: &serde_json::Value) -> (String, String) {
    let endpoint = meta["endpoints"][0]["url"].as_str().expect("url");
    let token = meta["token"].as_str().expect("token");
    (endpoint.to_owned(), token.to_owned())
}

async fn data(addr: SocketAddr, meta: &serde_json::Value, op: &str, body: &[u8]) -> (u16, Vec<u8>) {
    let (endpoint, token) = data_path(meta);
    let (status, _, body) = post(
        addr,
        &format!("{endpoint}/{op}"),
        &token,
        "application/x-protobuf",
        body,
    )
    .await;
    (status, body)
}

fn set_request(k: &cairn_model::Key, v: &[u8]) -> Vec<u8> {
    let write = AtomicWrite {
        mutations: vec![Mutation {
            key: k.encode(),
            kind: MutationKind::Set(KvValue::Bytes(v.to_vec())),
            expire_at_ms: None,
        }],
        ..Default::default()
    };
    cairn_proto::atomic_write_to_proto(write).encode_to_vec()
}

fn get_request(k: &cairn_model::Key) -> Vec<u8> {
    let mut end = k.encode();
    end.push(0);
    let range = ReadRange {
        start: k.encode(),
        end,
        limit: 1,
        reverse: false,
    };
    cairn_proto::snapshot_read_to_proto(vec![range]).encode_to_vec()
}

fn read_values(body: &[u8]) -> Vec<Vec<u8>> {
    let out = pb::SnapshotReadOutput::decode(body).expect("snapshot read output");
    out.ranges
        .into_iter()
        .flat_map(|r| r.values)
        .map(|e| e.value)
        .collect()
}

#[tokio::test]
async fn metadata_exchange_has_exactly_the_fields_clients_accept() {
    let server = Server::start(4).await;
    let meta = metadata(server.addr, "/", "rw").await;
    let mut fields: Vec<_> = meta.as_object().expect("object").keys().cloned().collect();
    fields.sort();
    assert_eq!(
        fields,
        ["databaseId", "endpoints", "expiresAt", "token", "version"]
    );
    assert_eq!(meta["version"], 3);
    assert_eq!(meta["endpoints"][0]["consistency"], "strong");
    assert!(!meta["endpoints"][0]["url"]
        .as_str()
        .expect("url")
        .ends_with('/'));
    assert_ne!(
        meta["token"], "rw",
        "the data token is derived, not the access token"
    );
    let expires = meta["expiresAt"].as_str().expect("expiresAt");
    assert!(expires.ends_with('Z') && expires.len() == 24, "{expires}");
    // Version 2 only: the server answers 2.
    let (status, _, body) = post(
        server.addr,
        "/",
        "rw",
        "application/json",
        br#"{"supportedVersions":[2]}"#,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<serde_json::Value>(&body).expect("json")["version"],
        2
    );
    server.shutdown().await;
}

#[tokio::test]
async fn bad_credentials_and_bad_requests_are_4xx_with_a_reason() {
    let server = Server::start(4).await;
    let addr = server.addr;
    let (status, head, body) = post(addr, "/", "nope", "application/json", METADATA_REQUEST).await;
    assert_eq!(status, 401);
    assert!(head.to_ascii_lowercase().contains("text/plain"));
    assert!(!body.is_empty());
    let missing = b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}";
    assert_eq!(raw(addr, missing).await.0, 401);
    assert_eq!(
        post(addr, "/", "rw", "application/json", b"not json")
            .await
            .0,
        400
    );
    assert_eq!(
        post(
            addr,
            "/",
            "rw",
            "application/json",
            br#"{"supportedVersions":[1]}"#
        )
        .await
        .0,
        400
    );
    // The access token is not a data-path token.
    assert_eq!(
        post(
            addr,
            "/data/snapshot_read",
            "rw",
            "application/x-protobuf",
            b""
        )
        .await
        .0,
        401
    );

    let meta = metadata(addr, "/", "rw").await;
    let (status, body) = data(addr, &meta, "snapshot_read", &[0x0a, 0x05, 0x01]).await;
    assert_eq!(
        status,
        400,
        "malformed protobuf: {}",
        String::from_utf8_lossy(&body)
    );
    let huge_key = key![vec![7u8; 3000]];
    let (status, body) = data(addr, &meta, "atomic_write", &set_request(&huge_key, b"v")).await;
    assert_eq!(status, 400);
    assert!(
        String::from_utf8_lossy(&body).contains("exceeds"),
        "{}",
        String::from_utf8_lossy(&body)
    );
    server.shutdown().await;
}

#[tokio::test]
async fn oversized_bodies_are_refused_before_they_are_read() {
    let server = Server::start(4).await;
    // Announce 64 MiB and send none of it: the answer must come anyway.
    let request = b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nAuthorization: Bearer rw\r\nContent-Length: 67108864\r\n\r\n";
    assert_eq!(raw(server.addr, request).await.0, 413);
    server.shutdown().await;
}

/// Everything the server sends on one connection until it closes it.
async fn until_closed(addr: SocketAddr, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connect");
    stream.write_all(request).await.expect("write");
    let mut response = Vec::new();
    tokio::time::timeout(Duration::from_secs(20), stream.read_to_end(&mut response))
        .await
        .expect("the server closes the connection")
        .expect("read");
    String::from_utf8_lossy(&response).into_owned()
}

#[tokio::test]
async fn ambiguous_framing_is_refused_and_the_connection_closed() {
    let server = Server::start(4).await;
    let addr = server.addr;
    let body = METADATA_REQUEST;
    let chunked = |extra: &str| {
        let mut request = format!(
            "POST / HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer rw\r\nContent-Type: application/json\r\n{extra}Transfer-Encoding: chunked\r\n\r\n{:x}\r\n",
            body.len()
        )
        .into_bytes();
        request.extend_from_slice(body);
        request.extend_from_slice(b"\r\n0\r\n\r\n");
        request
    };
    // A chunked request alone is fine, and a keep-alive connection carries the next request.
    let mut two = chunked("");
    two.extend_from_slice(
        b"POST / HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Length: 2\r\n\r\n{}",
    );
    let answers = until_closed(addr, &two).await;
    assert!(answers.starts_with("HTTP/1.1 200"), "{answers}");
    assert!(answers.contains("HTTP/1.1 401"), "{answers}");

    // Content-Length beside Transfer-Encoding, in either order: 400 with a reason, the
    // request is never handled, and the connection closes — also after a valid request
    // on the same connection, whose answer comes first.
    let smuggled = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";
    for extra in ["Content-Length: 3\r\n", ""] {
        let mut request = chunked(extra);
        if extra.is_empty() {
            // Content-Length after Transfer-Encoding.
            let at = request
                .windows(4)
                .position(|w| w == b"\r\n\r\n")
                .expect("head end");
            request.splice(at + 2..at + 2, b"Content-Length: 3\r\n".iter().copied());
        }
        request.extend_from_slice(smuggled);
        let answer = until_closed(addr, &request).await;
        assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
        assert!(answer.contains("text/plain"), "{answer}");
        assert!(answer.contains("both Content-Length and Transfer-Encoding"));
        assert_eq!(answer.matches("HTTP/1.1").count(), 1, "{answer}");

        let mut after_valid = b"POST / HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}".to_vec();
        after_valid.extend_from_slice(&request);
        let answers = until_closed(addr, &after_valid).await;
        assert!(answers.starts_with("HTTP/1.1 401"), "{answers}");
        assert!(answers.contains("HTTP/1.1 400"), "{answers}");
        assert_eq!(answers.matches("HTTP/1.1").count(), 2, "{answers}");
    }

    // A head past the bound is refused with 431 before it is parsed.
    let mut huge = b"GET / HTTP/1.1\r\nHost: t\r\n".to_vec();
    while huge.len() <= cairn_server::limits::SERVER_HEADER_BYTES_MAX {
        huge.extend_from_slice(b"X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    huge.extend_from_slice(b"\r\n");
    let answer = until_closed(addr, &huge).await;
    assert!(answer.starts_with("HTTP/1.1 431"), "{answer}");
    server.shutdown().await;
}

#[tokio::test]
async fn writes_and_reads_round_trip_and_databases_are_isolated() {
    let server = Server::start(4).await;
    let addr = server.addr;
    let default = metadata(addr, "/", "rw").await;
    let other = metadata(addr, "/db/other", "rw").await;
    assert_ne!(default["databaseId"], other["databaseId"]);

    let (status, body) = data(
        addr,
        &default,
        "atomic_write",
        &set_request(&key!["k"], b"in default"),
    )
    .await;
    assert_eq!(status, 200);
    let output = pb::AtomicWriteOutput::decode(body.as_slice()).expect("output");
    assert_eq!(output.status, pb::AtomicWriteStatus::AwSuccess as i32);
    assert_eq!(output.versionstamp.len(), 10);

    let (_, body) = data(addr, &default, "snapshot_read", &get_request(&key!["k"])).await;
    assert_eq!(read_values(&body), vec![b"in default".to_vec()]);
    let (_, body) = data(addr, &other, "snapshot_read", &get_request(&key!["k"])).await;
    assert!(
        read_values(&body).is_empty(),
        "the other database does not see it"
    );
    // A data token of one database does not open another.
    let token = default["token"].as_str().expect("token");
    assert_eq!(
        post(
            addr,
            "/db/other/data/snapshot_read",
            token,
            "application/x-protobuf",
            &get_request(&key!["k"])
        )
        .await
        .0,
        401
    );
    server.shutdown().await;
}

#[tokio::test]
async fn read_only_tokens_read_but_cannot_write() {
    let server = Server::start(4).await;
    let meta = metadata(server.addr, "/", "ro").await;
    let (status, body) = data(
        server.addr,
        &meta,
        "atomic_write",
        &set_request(&key!["k"], b"v"),
    )
    .await;
    assert_eq!(status, 200);
    let output = pb::AtomicWriteOutput::decode(body.as_slice()).expect("output");
    assert_eq!(output.status, pb::AtomicWriteStatus::AwWriteDisabled as i32);
    let (status, _) = data(
        server.addr,
        &meta,
        "snapshot_read",
        &get_request(&key!["k"]),
    )
    .await;
    assert_eq!(status, 200);
    server.shutdown().await;
}

#[tokio::test]
async fn watches_per_token_are_capped() {
    let server = Server::start(1).await;
    let meta = metadata(server.addr, "/", "rw").await;
    let (endpoint, token) = data_path(&meta);
    let body = cairn_proto::watch_to_proto(vec![key!["w"].encode()]).encode_to_vec();
    // The first watch stays open (its stream never ends); read its first frame only.
    let mut first = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST {endpoint}/watch HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    first.write_all(head.as_bytes()).await.expect("write");
    first.write_all(&body).await.expect("write");
    let mut buf = [0u8; 256];
    let n = first.read(&mut buf).await.expect("first frame");
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    // A second one from the same token is refused.
    let (status, _, _) = post(
        server.addr,
        &format!("{endpoint}/watch"),
        &token,
        "application/x-protobuf",
        &body,
    )
    .await;
    assert_eq!(status, 429);
    drop(first);
    server.shutdown().await;
}

/// A client that sends its headers one byte per second is answered 408 with a reason and cut
/// off once the header timeout (`SERVER_HEADER_TIMEOUT_MS`) runs out, while a normal client on
/// another connection is served meanwhile.
#[tokio::test]
async fn slow_headers_are_cut_off_and_others_are_served() {
    let server = Server::start(4).await;
    let mut slow = TcpStream::connect(server.addr).await.expect("connect");
    let trickle = tokio::spawn(async move {
        let header = b"POST / HTTP/1.1\r\nHost: t\r\nX-Slow: ".to_vec();
        for byte in header.into_iter().chain(std::iter::repeat_n(b'a', 100)) {
            if slow.write_all(&[byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_secs(1)).await;
            // The server answers 408 and closes; a closed connection shows as end of stream.
            let mut buf = [0u8; 256];
            match tokio::time::timeout(Duration::from_millis(1), slow.read(&mut buf)).await {
                Ok(Ok(0)) => return true,
                Ok(Ok(n)) => {
                    let answer = String::from_utf8_lossy(&buf[..n]).into_owned();
                    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
                    assert!(answer.contains("not received in time"), "{answer}");
                    return true;
                }
                _ => {}
            }
        }
        false
    });

    // While the slow client trickles, a normal client is served.
    let meta = metadata(server.addr, "/", "rw").await;
    let (status, _) = data(
        server.addr,
        &meta,
        "snapshot_read",
        &get_request(&key!["x"]),
    )
    .await;
    assert_eq!(status, 200, "a normal client is served");

    // Bounded: the header timeout is 10 s; the whole trickle would take over two minutes.
    let cut = tokio::time::timeout(Duration::from_secs(90), trickle)
        .await
        .expect("the slow client was not disconnected in time")
        .expect("trickle task");
    assert!(cut, "the slow client was never disconnected");
    server.shutdown().await;
}

/// A client that announces a body and stalls after its first bytes is answered 408 with a
/// reason once the body timeout (`SERVER_BODY_TIMEOUT_MS`) runs out, instead of holding its
/// connection for ever; meanwhile a normal client is served.
#[tokio::test]
async fn a_stalled_body_is_cut_off_and_others_are_served() {
    let server = Server::start(4).await;
    let meta = metadata(server.addr, "/", "rw").await;
    let (endpoint, token) = data_path(&meta);
    let mut stalled = TcpStream::connect(server.addr).await.expect("connect");
    let head = format!(
        "POST {endpoint}/atomic_write HTTP/1.1\r\nHost: t\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: application/x-protobuf\r\nContent-Length: 100\r\n\r\n"
    );
    stalled.write_all(head.as_bytes()).await.expect("headers");
    stalled
        .write_all(&[0x0a; 10])
        .await
        .expect("ten of the hundred bytes");

    // While the body stalls, a normal client is served.
    let (status, _) = data(
        server.addr,
        &meta,
        "atomic_write",
        &set_request(&key!["y"], b"v"),
    )
    .await;
    assert_eq!(status, 200, "a normal client is served");

    // Bounded: the body timeout is 30 s.
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(90), stalled.read_to_end(&mut answer))
        .await
        .expect("the stalled client was not cut off in time");
    assert!(read.is_ok() || !answer.is_empty(), "{read:?}");
    let text = String::from_utf8_lossy(&answer);
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(
        text.contains("not received within the time limit"),
        "a reason: {text}"
    );
    server.shutdown().await;
}

/// HTTP/2 without TLS, by prior knowledge (h2c): the metadata exchange, a write and a read on
/// one multiplexed connection. (The framing guard lets the HTTP/2 preface through untouched.)
#[tokio::test]
async fn http2_with_prior_knowledge_is_served() {
    use bytes::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::rt::{TokioExecutor, TokioIo};

    let server = Server::start(4).await;
    let stream = TcpStream::connect(server.addr).await.expect("connect");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let mut post = |uri: String, token: String, content_type: &'static str, body: Vec<u8>| {
        let request = hyper::Request::post(uri)
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", content_type)
            .body(Full::new(Bytes::from(body)))
            .expect("request");
        let sent = sender.send_request(request);
        async move {
            let response = sent.await.expect("answer");
            assert_eq!(response.version(), hyper::Version::HTTP_2);
            let status = response.status().as_u16();
            let body = response.into_body().collect().await.expect("body");
            (status, body.to_bytes().to_vec())
        }
    };
    let base = format!("http://{}", server.addr);
    let (status, body) = post(
        format!("{base}/"),
        "rw".into(),
        "application/json",
        METADATA_REQUEST.to_vec(),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let meta: serde_json::Value = serde_json::from_slice(&body).expect("json");
    let (endpoint, token) = data_path(&meta);
    let endpoint = if endpoint.starts_with("http") {
        endpoint
    } else {
        format!("{base}{endpoint}")
    };
    let k = key!["over", "h2"];
    let (status, body) = post(
        format!("{endpoint}/atomic_write"),
        token.clone(),
        "application/x-protobuf",
        set_request(&k, b"multiplexed"),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let (status, body) = post(
        format!("{endpoint}/snapshot_read"),
        token,
        "application/x-protobuf",
        get_request(&k),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(read_values(&body), vec![b"multiplexed".to_vec()]);
    server.shutdown().await;
}
