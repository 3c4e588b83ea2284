//! Data bounds answer with an error reply and keep the connection: a value larger than a
//! database stores, more keys than one atomic write carries; a pipeline past its bounds
//! is still answered in full and in order.

mod support;

use cairn_resp::frame::Frame;
use support::{encode, is_error, Server, RW};

#[tokio::test]
async fn oversized_values_and_writes_are_refused_and_the_connection_goes_on() {
    let server = Server::start().await;
    let mut c = server.client(RW).await;
    let big = "x".repeat(65_537);
    let reply = c.cmd(&["SET", "k", &big]).await;
    assert!(
        is_error(&reply, "ERR value of 65537 bytes exceeds the limit"),
        "{reply:?}"
    );
    assert_eq!(
        c.cmd(&["APPEND", "k", &"y".repeat(65_536)]).await,
        Frame::Integer(65_536)
    );
    assert!(is_error(
        &c.cmd(&["APPEND", "k", "z"]).await,
        "ERR value of 65537 bytes"
    ));
    let mut mset: Vec<String> = vec!["MSET".into()];
    for i in 0..1_001 {
        mset.push(format!("k{i}"));
        mset.push("v".into());
    }
    let refs: Vec<&str> = mset.iter().map(String::as_str).collect();
    let reply = c.cmd(&refs).await;
    assert!(
        is_error(
            &reply,
            "ERR this command's writes do not fit in one atomic write"
        ),
        "{reply:?}"
    );
    assert_eq!(
        c.cmd(&["EXISTS", "k0"]).await,
        Frame::Integer(0),
        "nothing of it written"
    );
    let long_key = "k".repeat(3000);
    assert!(is_error(
        &c.cmd(&["SET", &long_key, "v"]).await,
        "ERR key of"
    ));
    assert_eq!(c.cmd(&["GET", &long_key]).await, Frame::Null);
}

#[tokio::test]
async fn a_long_pipeline_is_answered_in_order() {
    let server = Server::start().await;
    let c = server.client(RW).await;
    let n = cairn_resp::limits::PIPELINE_WRITES_MAX * 3;
    let mut pipeline = Vec::new();
    for i in 0..n {
        pipeline.extend_from_slice(&encode(&["SET", &format!("k{}", i % 7), &i.to_string()]));
        if i % 500 == 0 {
            pipeline.extend_from_slice(&encode(&["GET", &format!("k{}", i % 7)]));
        }
    }
    let (read, mut write) = c.stream.into_split();
    let sender = tokio::spawn(async move {
        tokio::io::AsyncWriteExt::write_all(&mut write, &pipeline)
            .await
            .expect("send");
        write
    });
    let mut reader = support::Reader::new(read);
    for i in 0..n {
        assert_eq!(reader.reply().await, Some(Frame::ok()));
        if i % 500 == 0 {
            // A read sees every write before it in the pipeline.
            assert_eq!(reader.reply().await, Some(support::bulk(&i.to_string())));
        }
    }
    drop(sender.await);
}
