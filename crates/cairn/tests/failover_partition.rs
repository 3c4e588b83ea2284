//! A primary cut off from etcd and from its peers by the network acknowledges nothing after
//! its lease could have expired, and rejoins as a replica when the network is back.
//!
//! The test makes a network namespace with a veth pair (it runs as root): the first member,
//! `a0`, runs inside it (`ip netns exec`), the etcd members and the other two members outside,
//! on the host's end of the pair. `a0` is elected first (it is alone), then `n1` and `n2` join
//! as its replicas. Under load — cairn-client writers and the Deno runtime through `n1`, and
//! a second Deno writer *inside* the namespace, connected straight to `a0` over its loopback
//! so that it keeps reaching `a0` during the cut — the namespace's end of the pair is taken
//! down: `a0` loses etcd and its replicas at once. Then:
//!
//! - `n1` or `n2` is elected and serves the writers outside;
//! - the network back, `a0` finds its lease gone, steps down and rejoins as a replica of the
//!   new primary, holding what it holds;
//! - every write acknowledged to any client — the Deno writer tied to `a0` included — is on
//!   the new primary: `a0` acknowledged nothing the group lost (no split brain).

mod e2e;
mod failover;
mod replication;

use std::process::Command;
use std::time::{Duration, Instant};

use failover::{member_args_at, role, wait_for_leader, wait_rejoined, Etcd, Load, Member3};
use replication::Node;

/// A network namespace and a veth pair into it; removed on drop.
struct Netns {
    name: String,
    inside: String,
    outside: String,
    /// The host's address on the pair.
    host_ip: String,
    /// The namespace's address on the pair.
    ns_ip: String,
}

fn ip(args: &[&str]) {
    let status = Command::new("ip").args(args).status().expect("ip");
    assert!(status.success(), "ip {args:?} failed");
}

impl Netns {
    fn new() -> Netns {
        let id = std::process::id() % 100_000;
        let net = std::process::id() % 250 + 1;
        let ns = Netns {
            name: format!("cairnfo{id}"),
            inside: format!("cfo{id}n"),
            outside: format!("cfo{id}h"),
            host_ip: format!("10.231.{net}.1"),
            ns_ip: format!("10.231.{net}.2"),
        };
        ip(&["netns", "add", &ns.name]);
        ip(&[
            "link",
            "add",
            &ns.outside,
            "type",
            "veth",
            "peer",
            "name",
            &ns.inside,
        ]);
        ip(&["link", "set", &ns.inside, "netns", &ns.name]);
        ip(&[
            "addr",
            "add",
            &format!("{}/30", ns.host_ip),
            "dev",
            &ns.outside,
        ]);
        ip(&["link", "set", &ns.outside, "up"]);
        ns.exec(&[
            "ip",
            "addr",
            "add",
            &format!("{}/30", ns.ns_ip),
            "dev",
            &ns.inside,
        ]);
        ns.exec(&["ip", "link", "set", &ns.inside, "up"]);
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    fn exec(&self, args: &[&str]) {
        let mut all = vec!["netns", "exec", &self.name];
        all.extend(args);
        ip(&all);
    }

    /// Takes the namespace's end of the pair down (`up` false) or up.
    fn link(&self, up: bool) {
        let state = if up { "up" } else { "down" };
        self.exec(&["ip", "link", "set", &self.inside, state]);
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = Command::new("ip")
            .args(["link", "del", &self.outside])
            .stderr(std::process::Stdio::null())
            .status();
    }
}

#[test]
fn a_primary_cut_off_acknowledges_nothing_after_its_lease_and_rejoins() {
    let ns = Netns::new();
    let dirs = tempfile::tempdir().expect("temp dir");
    let runtime = e2e::runtime();
    let etcd = Etcd::start_on(dirs.path(), Some(&ns.host_ip));
    let wrapper = ["ip", "netns", "exec", ns.name.as_str()];
    let port = failover::free_port();
    let args = member_args_at(
        &etcd.endpoints_on(&ns.host_ip),
        "a0",
        &format!("0.0.0.0:{port}"),
        &format!("{}:{port}", ns.ns_ip),
        &["--metrics-listen", &format!("{}:0", ns.ns_ip)],
    );
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let a0 = Node::start_wrapped(&dirs.path().join("a0"), &wrapper, &args);
    let mut members = vec![Member3 {
        node: a0,
        name: "a0".into(),
        port,
    }];
    assert_eq!(wait_for_leader(&members, &[0], 0), 0);
    for name in ["n1", "n2"] {
        let port = failover::free_port();
        let at = format!("{}:{port}", ns.host_ip);
        let args = member_args_at(&etcd.endpoints(), name, &at, &at, &[]);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        members.push(Member3 {
            node: Node::start(&dirs.path().join(name), &args),
            name: name.into(),
            port,
        });
    }
    assert_eq!(wait_for_leader(&members, &[0, 1, 2], 2), 0);
    let mut load = Load::start(
        &runtime,
        &members[1].node.url,
        3,
        &dirs.path().join("deno-dir"),
    );
    // The Deno writer inside the namespace, straight to a0.
    let inside = Load::start_deno(
        &wrapper,
        &format!("http://127.0.0.1:{port}", port = members[0].port),
        4,
        &dirs.path().join("deno-dir"),
    );
    let start = Instant::now() - Duration::from_secs(3600);
    load.wait_for_acks_after(start, 50, "load before the cut");
    inside.wait_for_acks(start, 0, 20, "the Deno writer inside the namespace");

    ns.link(false);
    let cut_at = Instant::now();
    let new_leader = wait_for_leader(&members, &[1, 2], 1);
    // Requests already sent to a0 wait for the network (no reset comes back): only
    // cairn-client's writers, which time out, move on before it is back.
    load.wait_for_acks(cut_at, 20, 0, "writes on the new primary");
    let back_at = Instant::now();
    ns.link(true);
    members[0]
        .node
        .wait_for_log("no longer the failover group's leader");
    load.wait_for_acks_after(back_at, 20, "writes after the network is back");
    load.stop(&runtime);
    let mut inside = inside;
    inside.stop(&runtime);
    let new = &members[new_leader].node;
    let checked =
        load.check_all_present(&runtime, &new.url) + inside.check_all_present(&runtime, &new.url);
    println!(
        "{checked} acknowledged writes (some straight to the cut-off primary) on the new primary"
    );
    wait_rejoined(&members[0].node, new);
    assert_eq!(role(&members[0].node), Some("replica"));
    drop(etcd);
}
