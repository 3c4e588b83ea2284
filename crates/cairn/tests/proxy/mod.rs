//! A tiny HTTP/1.1 proxy for the client's retry tests. It forwards each request to the
//! upstream server on a connection of its own and, for data-path requests (`…/data/…`), does
//! what the test scripted ([`Step`]): pass the answer on, replace it after the server answered
//! with a bare status of its own (what a proxy's 502 or 504 looks like), refuse with cairn's
//! not-applied 503 without forwarding, or hold the client's connection after the server
//! answered (while the test kills the server) and then drop it unanswered.
//!
//! Every answer closes its connection (no keep-alive), so the client opens a new connection
//! for each request: once the proxy stops listening, the next attempt cannot connect.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What the proxy does with the next data-path request.
pub enum Step {
    /// Forward it and pass the answer on.
    Pass,
    /// Forward it, wait for the server's whole answer, then answer this status instead, with
    /// no header of the server's.
    ReplaceAfterForwarding(StatusCode),
    /// Do not forward it; answer `503` with `cairn-not-applied: 1`, as cairn does for a write
    /// refused before submission.
    RefuseNotApplied,
    /// Forward it, wait for the server's whole answer, report it on `answered`, wait for
    /// `release`, then drop the client's connection without an answer.
    DropAfterForwarding {
        /// Told once the server has answered.
        answered: oneshot::Sender<()>,
        /// Waited for before the connection is dropped.
        release: oneshot::Receiver<()>,
    },
}

struct State {
    upstream: SocketAddr,
    script: Mutex<VecDeque<Step>>,
    /// Atomic writes that reached the server (`…/data/atomic_write` forwarded).
    writes_forwarded: AtomicU64,
}

/// A running proxy on 127.0.0.1.
pub struct Proxy {
    addr: SocketAddr,
    state: Arc<State>,
    accept: Option<JoinHandle<()>>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl Proxy {
    /// Starts a proxy in front of the server at `upstream` (`http://host:port`).
    pub async fn start(upstream: &str) -> Proxy {
        let state = Arc::new(State {
            upstream: socket_addr(upstream),
            script: Mutex::new(VecDeque::new()),
            writes_forwarded: AtomicU64::new(0),
        });
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind proxy");
        let addr = listener.local_addr().expect("proxy address");
        let accept = Some(tokio::spawn(accept(listener, state.clone())));
        Proxy {
            addr,
            state,
            accept,
        }
    }

    /// The proxy's URL for the server's default database.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Appends a step for a later data-path request; requests find [`Step::Pass`] once the
    /// script is used up.
    pub fn script(&self, step: Step) {
        lock(&self.state.script).push_back(step);
    }

    /// How many atomic writes reached the server through the proxy.
    pub fn writes_forwarded(&self) -> u64 {
        self.state.writes_forwarded.load(Ordering::SeqCst)
    }

    /// Stops listening: from now on, connecting to the proxy is refused.
    pub async fn stop_listening(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
            // Dropping the task drops the listener: the port is closed once this returns.
            let _ = accept.await;
        }
    }

    /// Listens again on the same port.
    pub async fn resume_listening(&mut self) {
        assert!(self.accept.is_none(), "the proxy is listening already");
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("bind proxy again");
        self.accept = Some(tokio::spawn(accept(listener, self.state.clone())));
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.take() {
            accept.abort();
        }
    }
}

fn socket_addr(url: &str) -> SocketAddr {
    let host = url.strip_prefix("http://").unwrap_or(url);
    host.parse()
        .unwrap_or_else(|e| panic!("not http://ip:port: {url:?}: {e}"))
}

async fn accept(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| handle(state.clone(), request));
            // An error here is a connection the test dropped on purpose, or a client that
            // went away: nothing to report.
            let _ = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let path = request.uri().path().to_owned();
    let step = if path.contains("/data/") {
        lock(&state.script).pop_front()
    } else {
        None
    };
    let step = step.unwrap_or(Step::Pass);
    if let Step::RefuseNotApplied = step {
        return Ok(answer(
            StatusCode::SERVICE_UNAVAILABLE,
            Some((
                cairn_proto::NOT_APPLIED_HEADER,
                cairn_proto::NOT_APPLIED_VALUE,
            )),
        ));
    }
    let response = forward(state.upstream, request).await?;
    if path.ends_with("/data/atomic_write") {
        state.writes_forwarded.fetch_add(1, Ordering::SeqCst);
    }
    match step {
        Step::Pass | Step::RefuseNotApplied => Ok(response),
        Step::ReplaceAfterForwarding(status) => Ok(answer(status, None)),
        Step::DropAfterForwarding { answered, release } => {
            let _ = answered.send(());
            let _ = release.await;
            // An error from the service makes hyper close the connection without an answer.
            Err("connection dropped by the test proxy".into())
        }
    }
}

/// Sends `request` to `upstream` on a new connection; returns the whole answer.
async fn forward(
    upstream: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, BoxError> {
    let (parts, body) = request.into_parts();
    let body = body.collect().await?.to_bytes();
    let stream = TcpStream::connect(upstream).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let response = sender
        .send_request(Request::from_parts(parts, Full::new(body)))
        .await?;
    let (parts, body) = response.into_parts();
    let body = body.collect().await?.to_bytes();
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// An answer of the proxy's own: `status`, a plain-text body, and `header` if given.
fn answer(
    status: StatusCode,
    header: Option<(&'static str, &'static str)>,
) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(format!(
        "{status} from the test proxy"
    ))));
    *response.status_mut() = status;
    if let Some((name, value)) = header {
        response
            .headers_mut()
            .insert(name, hyper::header::HeaderValue::from_static(value));
    }
    response
}
