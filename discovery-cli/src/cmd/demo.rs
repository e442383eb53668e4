//! `discovery demo`: a fake cluster in-process, watched and balanced over while it
//! scales, rolls, loses DNS and empties.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use futures::StreamExt;
use headless_discovery::balance::{PeerDiscover, WaitForPeers};
use headless_discovery::{Config, Discovery, Peer, Subscription, Watch};
use headless_discovery_testkit::echo::{self, EchoServer};
use headless_discovery_testkit::{Cluster, Fault, StatefulSet, StatefulSetSpec};
use tokio::time::Instant;
use tower::balance::p2c::Balance;
use tower::load::{CompleteOnResponse, PendingRequestsDiscover};
use tower::util::BoxService;
use tower::{BoxError, Service, ServiceExt, service_fn};

use crate::args::DemoArgs;
use crate::output;

const PORT: u16 = 7070;
const SERVICE: &str = "_echo._tcp.echo.demo";
/// How long the demo waits for any one thing before calling it a failure.
const PATIENCE: Duration = Duration::from_secs(10);

type Echo = BoxService<String, String, BoxError>;

struct Demo {
    cluster: Cluster,
    discovery: Discovery,
    set: StatefulSet,
    servers: BTreeMap<u32, EchoServer>,
    watch: Watch,
    events: Subscription,
    balancer: Echo,
}

pub(crate) async fn run(args: DemoArgs) -> Result<(), String> {
    let started = Instant::now();
    let mut demo = Demo::start().await?;
    demo.balance("three pods", 30).await?;
    demo.scale_up().await?;
    demo.rolling_update().await?;
    demo.dns_outage().await?;
    demo.scale_to_zero().await?;
    let stores = super::demo_stores::run(&demo.cluster, &demo.discovery).await?;
    println!("\ndemo finished in {:.1?}", started.elapsed());
    if args.keep {
        demo.keep(stores).await?;
    }
    Ok(())
}

impl Demo {
    async fn start() -> Result<Self, String> {
        step("a fake cluster: DNS answering like CoreDNS, pods on loopback addresses");
        let cluster = Cluster::builder()
            .ttl(1)
            .start()
            .await
            .map_err(|e| e.to_string())?;
        let set = cluster
            .statefulset(
                StatefulSetSpec::new("echo")
                    .namespace("demo")
                    .port("echo", PORT)
                    .replicas(3),
            )
            .map_err(|e| e.to_string())?;
        let mut servers = BTreeMap::new();
        serve(&set, &mut servers).await?;
        println!(
            "  DNS server {}, StatefulSet demo/echo with 3 echo pods on port {PORT}",
            cluster.dns_addr()
        );

        let mut config = Config::default();
        config.nameserver = Some(cluster.dns_addr());
        config.empty_grace = Duration::from_secs(2);
        config.backoff_max = Duration::from_secs(1);
        config.query_timeout = Duration::from_millis(500);
        let discovery = Discovery::new(config).map_err(|e| e.to_string())?;
        let watch = discovery.watch(SERVICE).await.map_err(|e| e.to_string())?;
        let discovery_for_stores = discovery.clone();
        println!(
            "  watching {}:\n{}",
            watch.service(),
            indent(&output::table(&watch.peers()))
        );

        let discover = PendingRequestsDiscover::new::<String>(
            PeerDiscover::from_fn(&watch, echo_client),
            CompleteOnResponse::default(),
        );
        let balancer = BoxService::new(WaitForPeers::new(
            Balance::new(Box::pin(discover)),
            watch.clone(),
            Duration::from_secs(1),
        ));
        let events = watch.subscribe();
        Ok(Self {
            cluster,
            discovery: discovery_for_stores,
            set,
            servers,
            watch,
            events,
            balancer,
        })
    }

    /// Sends `n` requests through the balancer and shows which pods served them.
    async fn balance(&mut self, label: &str, n: usize) -> Result<(), String> {
        let mut served: BTreeMap<String, usize> = BTreeMap::new();
        for i in 0..n {
            let reply = self.call(format!("request-{i}")).await?;
            let pod = reply.split(' ').next().unwrap_or_default().to_owned();
            *served.entry(pod).or_default() += 1;
        }
        let spread: Vec<String> = served
            .iter()
            .map(|(pod, count)| format!("{pod}: {count}"))
            .collect();
        println!(
            "  {n} requests through tower's p2c balancer ({label}): {}",
            spread.join(", ")
        );
        Ok(())
    }

    async fn call(&mut self, line: String) -> Result<String, String> {
        let ready = self.balancer.ready().await.map_err(|e| e.to_string())?;
        ready.call(line).await.map_err(|e| e.to_string())
    }

    async fn scale_up(&mut self) -> Result<(), String> {
        step("scale up: 3 -> 5 replicas");
        let at = Instant::now();
        self.set.scale(5).map_err(|e| e.to_string())?;
        serve(&self.set, &mut self.servers).await?;
        self.expect_events(2, at).await?;
        self.balance("five pods", 50).await
    }

    async fn rolling_update(&mut self) -> Result<(), String> {
        step("rolling update: each pod replaced from the highest ordinal down, with a new IP");
        for ordinal in (0..5).rev() {
            let at = Instant::now();
            self.servers.remove(&ordinal);
            self.set.replace_pod(ordinal).map_err(|e| e.to_string())?;
            serve(&self.set, &mut self.servers).await?;
            self.expect_events(1, at).await?;
        }
        self.balance("after the rollout", 20).await
    }

    async fn dns_outage(&mut self) -> Result<(), String> {
        step("DNS outage: the server answers SERVFAIL for 3 seconds");
        let mut health = self.watch.health_changes();
        self.cluster.set_fault(Fault::ServFail);
        let at = Instant::now();
        let state = tokio::time::timeout(PATIENCE, health.wait_for(|h| h.is_degraded()))
            .await
            .map_err(|_| "the watch never noticed the outage".to_owned())?
            .map_err(|e| e.to_string())?
            .clone();
        println!("  after {:.1?}: {state}", at.elapsed());
        println!(
            "  the {} known pods are kept, and still serve:",
            self.watch.peers().len()
        );
        self.balance("during the outage", 10).await?;
        tokio::time::sleep_until(at + Duration::from_secs(3)).await;
        self.cluster.set_fault(Fault::None);
        let back = Instant::now();
        tokio::time::timeout(PATIENCE, health.wait_for(|h| h.is_healthy()))
            .await
            .map_err(|_| "the watch never recovered".to_owned())?
            .map_err(|e| e.to_string())?;
        println!(
            "  DNS answering again; recovery seen after {:.1?}",
            back.elapsed()
        );
        Ok(())
    }

    async fn scale_to_zero(&mut self) -> Result<(), String> {
        step("scale to zero: NXDOMAIN, an empty set after a 2 s grace, requests fail fast");
        let at = Instant::now();
        self.set.scale(0).map_err(|e| e.to_string())?;
        self.expect_events(5, at).await?;
        self.servers.clear();
        let asked = Instant::now();
        match self.call("anyone?".into()).await {
            Ok(reply) => Err(format!("a request was served with no pod: {reply}")),
            Err(error) => {
                println!(
                    "  a request now fails after {:.1?}: {error}",
                    asked.elapsed()
                );
                Ok(())
            }
        }
    }

    /// Prints the next `n` events and how long after `since` each arrived.
    async fn expect_events(&mut self, n: usize, since: Instant) -> Result<(), String> {
        for _ in 0..n {
            let event = tokio::time::timeout(PATIENCE, self.events.next())
                .await
                .map_err(|_| format!("no change seen within {PATIENCE:?}"))?
                .ok_or("the watch ended")?;
            println!(
                "  {:>6.1?}  {}",
                since.elapsed(),
                output::event_line(&event)
            );
        }
        Ok(())
    }

    async fn keep(mut self, stores: super::demo_stores::Stores) -> Result<(), String> {
        self.set.scale(3).map_err(|e| e.to_string())?;
        serve(&self.set, &mut self.servers).await?;
        let dns = self.cluster.dns_addr();
        println!(
            "\nthe fake cluster stays up until Ctrl-C. DNS on {dns}; from another terminal try:"
        );
        println!("  discovery resolve {SERVICE} --nameserver {dns}");
        println!("  discovery watch {SERVICE} --nameserver {dns}");
        if stores.redis.is_some() {
            println!(
                "  discovery redis topology _redis._tcp.redis.demo --nameserver {dns} --watch"
            );
        }
        if let Some(mysql) = &stores.mysql {
            println!(
                "  MYSQL_PASSWORD={} discovery mysql topology _mysql._tcp.mysql.demo --nameserver {dns} --user {} --password-env MYSQL_PASSWORD --watch",
                mysql.password(),
                mysql.user()
            );
        }
        println!("  (and the examples: examples/README.md, with --nameserver {dns})");
        tokio::signal::ctrl_c().await.map_err(|e| e.to_string())?;
        drop(stores);
        Ok(())
    }
}

/// Starts an echo server on every pod that has none yet.
async fn serve(set: &StatefulSet, servers: &mut BTreeMap<u32, EchoServer>) -> Result<(), String> {
    for pod in set.pods() {
        if servers
            .get(&pod.ordinal)
            .is_some_and(|s| s.addr().ip() == pod.ip)
        {
            continue;
        }
        let server = EchoServer::start(SocketAddr::new(pod.ip, PORT), &pod.name)
            .await
            .map_err(|e| format!("starting an echo server for {}: {e}", pod.name))?;
        servers.insert(pod.ordinal, server);
    }
    servers.retain(|ordinal, server| {
        set.pod(*ordinal)
            .is_some_and(|p| p.ip == server.addr().ip())
    });
    Ok(())
}

fn echo_client(peer: &Peer) -> Echo {
    let addr = peer.addr();
    BoxService::new(service_fn(move |line: String| async move {
        echo::request(addr, &line, Duration::from_secs(2))
            .await
            .map_err(BoxError::from)
    }))
}

pub(crate) fn step(title: &str) {
    println!("\n== {title}");
}

pub(crate) fn indent(text: &str) -> String {
    text.lines()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}
