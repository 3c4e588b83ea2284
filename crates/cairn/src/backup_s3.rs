//! S3-compatible archive destinations (`s3://bucket/prefix`) through the `object_store`
//! crate. Endpoint and credentials come from the usual AWS environment variables
//! (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION` or
//! `AWS_DEFAULT_REGION`, `AWS_ENDPOINT_URL` for MinIO, moto, R2 …); plain `http://` endpoints
//! are allowed when the endpoint says so.

use std::future::Future;
use std::sync::Arc;

use anyhow::{bail, Context};
use cairn_store::archive::{ArchiveError, Destination};
use futures_util::TryStreamExt;
use object_store::aws::{AmazonS3, AmazonS3Builder};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// An archive in a bucket, under a prefix.
pub struct S3 {
    store: Arc<AmazonS3>,
    /// Empty, or ends with `/`.
    prefix: String,
    url: String,
    /// The archive calls are synchronous (the archiver has a thread of its own); requests run
    /// on this small runtime, whoever calls.
    runtime: Option<tokio::runtime::Runtime>,
}

impl Drop for S3 {
    fn drop(&mut self) {
        // May be dropped inside an async context (a server's configuration), where waiting for
        // a runtime's threads is not allowed.
        if let Some(runtime) = self.runtime.take() {
            runtime.shutdown_background();
        }
    }
}

/// The destination `s3://bucket[/prefix]`.
pub fn destination(url: &str) -> anyhow::Result<Arc<dyn Destination>> {
    let Some(rest) = url.strip_prefix("s3://") else {
        bail!("{url:?} is not an s3:// URL");
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        bail!("{url:?} names no bucket: use s3://bucket/prefix");
    }
    let prefix = prefix.trim_matches('/');
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let endpoint = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .unwrap_or_default();
    if endpoint.starts_with("http://") {
        builder = builder.with_allow_http(true);
    }
    let store = builder
        .build()
        .with_context(|| format!("configuring the S3 destination {url}"))?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("cairn-s3")
        .enable_all()
        .build()?;
    Ok(Arc::new(S3 {
        store: Arc::new(store),
        prefix: if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        },
        url: url.to_owned(),
        runtime: Some(runtime),
    }))
}

impl S3 {
    /// Runs `future` on the destination's runtime and waits for it (also from inside another
    /// runtime, where `block_on` is not allowed).
    fn run<T: Send + 'static>(
        &self,
        future: impl Future<Output = object_store::Result<T>> + Send + 'static,
    ) -> object_store::Result<T> {
        let (tx, rx) = std::sync::mpsc::channel();
        if let Some(runtime) = &self.runtime {
            runtime.spawn(async move {
                let _ = tx.send(future.await);
            });
        }
        rx.recv().unwrap_or_else(|_| {
            Err(object_store::Error::Generic {
                store: "S3",
                source: "the S3 runtime stopped".into(),
            })
        })
    }

    fn path(&self, name: &str) -> Path {
        Path::from(format!("{}{name}", self.prefix))
    }

    fn failed(&self, what: &str, name: &str, e: object_store::Error) -> ArchiveError {
        ArchiveError::Destination(format!("{what} {name} in {}: {e}", self.url))
    }
}

impl Destination for S3 {
    fn put(&self, name: &str, bytes: &[u8]) -> Result<(), ArchiveError> {
        let (store, path) = (self.store.clone(), self.path(name));
        let payload = PutPayload::from(bytes.to_vec());
        self.run(async move { store.put(&path, payload).await.map(|_| ()) })
            .map_err(|e| self.failed("writing", name, e))
    }

    fn get(&self, name: &str) -> Result<Option<Vec<u8>>, ArchiveError> {
        let (store, path) = (self.store.clone(), self.path(name));
        let result = self.run(async move {
            match store.get(&path).await {
                Ok(found) => found.bytes().await.map(|b| Some(b.to_vec())),
                Err(object_store::Error::NotFound { .. }) => Ok(None),
                Err(e) => Err(e),
            }
        });
        result.map_err(|e| self.failed("reading", name, e))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, ArchiveError> {
        let full = format!("{}{prefix}", self.prefix);
        let store = self.store.clone();
        // object_store lists by whole path segments: list the directory, then filter.
        let dir = full.rsplit_once('/').map_or("", |(dir, _)| dir).to_owned();
        let listed = self.run(async move {
            let dir = (!dir.is_empty()).then(|| Path::from(dir));
            store
                .list(dir.as_ref())
                .map_ok(|meta| meta.location.to_string())
                .try_collect::<Vec<String>>()
                .await
        });
        let mut names: Vec<String> = listed
            .map_err(|e| self.failed("listing", prefix, e))?
            .into_iter()
            .filter(|n| n.starts_with(&full))
            .filter_map(|n| n.strip_prefix(&self.prefix).map(str::to_owned))
            .collect();
        names.sort();
        Ok(names)
    }

    fn delete(&self, name: &str) -> Result<(), ArchiveError> {
        let (store, path) = (self.store.clone(), self.path(name));
        self.run(async move {
            match store.delete(&path).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                Err(e) => Err(e),
            }
        })
        .map_err(|e| self.failed("deleting", name, e))
    }

    fn describe(&self) -> String {
        self.url.clone()
    }
}
