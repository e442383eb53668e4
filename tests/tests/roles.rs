//! The core's role engine over a store of the tests' own: pods that answer `ROLE` with a
//! line (`leader`, `replica <ip>`), served on their own addresses, found by the testkit's
//! DNS. What the engine decides from real probes over TCP: waiting through a failover,
//! giving up after `failover_wait`, waiting out a split brain, not waiting on a frozen pod,
//! and re-probing after a refusal.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use discovery_e2e::{discovery, eventually};
use headless_discovery::roles::{
    LeaderChoice, Probe, Report, Role, RoleError, RoleOpts, RoleWatch, Verdict,
};
use headless_discovery::{Peer, PeerKey};
use headless_discovery_testkit::{Cluster, RecordType, StatefulSet, StatefulSetSpec};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const PORT: u16 = 7400;

/// What a pod answers: a role line, or nothing at all (frozen).
#[derive(Debug, Clone)]
enum Answer {
    Line(String),
    Silence,
}

/// One pod's server: answers `ROLE` with whatever its answer is now. Stops when dropped.
struct RolePod {
    answer: Arc<Mutex<Answer>>,
    task: JoinHandle<()>,
}

impl Drop for RolePod {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl RolePod {
    async fn start(addr: SocketAddr, answer: Answer) -> Self {
        let listener = TcpListener::bind(addr).await.expect("bind the pod");
        let answer = Arc::new(Mutex::new(answer));
        let shared = Arc::clone(&answer);
        let task = tokio::spawn(async move {
            // Connections end with the test's runtime.
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve(stream, Arc::clone(&shared)));
            }
        });
        Self { answer, task }
    }

    fn say(&self, answer: Answer) {
        *self.answer.lock().unwrap_or_else(PoisonError::into_inner) = answer;
    }
}

async fn serve(stream: TcpStream, answer: Arc<Mutex<Answer>>) {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    while let Ok(Some(_)) = lines.next_line().await {
        let now = answer
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        match now {
            Answer::Line(line) => {
                if write
                    .write_all(format!("{line}\n").as_bytes())
                    .await
                    .is_err()
                {
                    return;
                }
            }
            Answer::Silence => std::future::pending::<()>().await,
        }
    }
}

#[derive(Debug, Clone)]
struct LineReport {
    leader: bool,
    upstream: Option<String>,
}

impl Report for LineReport {
    fn role(&self) -> Role {
        if self.leader {
            Role::Leader
        } else {
            Role::Replica
        }
    }

    fn follows(&self, leader: &Peer) -> bool {
        self.upstream
            .as_deref()
            .is_some_and(|host| leader.is_named(host))
    }
}

struct LineProbe;

impl Probe for LineProbe {
    type Report = LineReport;
    type Conn = BufReader<TcpStream>;
    type Error = std::io::Error;
    const STORE: &'static str = "line";

    async fn connect(&self, peer: &Peer) -> std::io::Result<Self::Conn> {
        Ok(BufReader::new(TcpStream::connect(peer.addr()).await?))
    }

    async fn ask(&self, _peer: &Peer, conn: &mut Self::Conn) -> std::io::Result<LineReport> {
        conn.get_mut().write_all(b"ROLE\n").await?;
        let mut line = String::new();
        if conn.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let mut words = line.split_whitespace();
        Ok(LineReport {
            leader: words.next() == Some("leader"),
            upstream: words.next().map(str::to_owned),
        })
    }
}

struct Setup {
    cluster: Cluster,
    set: StatefulSet,
    pods: Vec<RolePod>,
}

impl Setup {
    /// Three pods: 0 leads, 1 and 2 follow it.
    async fn start() -> Self {
        Self::start_with_ttl(1).await
    }

    /// The same, with the DNS records' TTL in seconds.
    async fn start_with_ttl(ttl: u32) -> Self {
        headless_discovery_testkit::init_tracing();
        let cluster = Cluster::builder().ttl(ttl).start().await.expect("cluster");
        let set = cluster
            .statefulset(StatefulSetSpec::new("db").port("db", PORT).replicas(3))
            .expect("statefulset");
        let mut pods = Vec::new();
        for pod in set.pods() {
            pods.push(
                RolePod::start(SocketAddr::new(pod.ip, PORT), Answer::Line(String::new())).await,
            );
        }
        let setup = Self { cluster, set, pods };
        setup.lead(0);
        setup
    }

    /// `leader` leads and every other pod follows it.
    fn lead(&self, leader: usize) {
        let ip = self.ip(leader);
        for (i, pod) in self.pods.iter().enumerate() {
            pod.say(Answer::Line(if i == leader {
                "leader".to_owned()
            } else {
                format!("replica {ip}")
            }));
        }
    }

    fn ip(&self, ordinal: usize) -> String {
        self.set.pod(ordinal as u32).expect("pod").ip.to_string()
    }

    fn key(&self, ordinal: u32) -> PeerKey {
        let pod = self.set.pod(ordinal).expect("pod");
        Peer::new(&pod.fqdn, SocketAddr::new(pod.ip, PORT)).key()
    }

    async fn roles(&self, opts: RoleOpts) -> RoleWatch<LineReport> {
        let watch = discovery(&self.cluster)
            .watch("_db._tcp.db")
            .await
            .expect("watch");
        RoleWatch::start(watch, LineProbe, opts).await
    }
}

fn fast() -> RoleOpts {
    RoleOpts::default()
        .probe_interval(Duration::from_millis(100))
        .probe_timeout(Duration::from_millis(300))
        .failover_wait(Duration::from_secs(3))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_waits_through_a_failover_for_the_new_leader() {
    let s = Setup::start().await;
    let roles = s.roles(fast()).await;
    assert_eq!(roles.leader().await.expect("a leader").ordinal(), Some(0));

    // The leader stops answering as one; a moment later pod 2 is promoted.
    s.pods[0].say(Answer::Line(format!("replica {}", s.ip(2))));
    s.pods[1].say(Answer::Line(format!("replica {}", s.ip(0))));
    eventually("no leader", Duration::from_secs(5), || async {
        (roles.topology().leader == LeaderChoice::None).then_some(())
    })
    .await;
    let waiting = tokio::spawn({
        let roles = roles.clone();
        async move {
            let started = tokio::time::Instant::now();
            (roles.leader().await, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(400)).await;
    s.lead(2);
    let (leader, waited) = waiting.await.expect("join");
    assert_eq!(leader.expect("the new leader").ordinal(), Some(2));
    assert!(
        waited >= Duration::from_millis(400),
        "it waited: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(3),
        "not the whole failover_wait: {waited:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_leader_or_with_an_unsettled_split_brain_requests_wait_then_fail() {
    let s = Setup::start().await;
    let roles = s
        .roles(fast().failover_wait(Duration::from_millis(600)))
        .await;
    for pod in &s.pods {
        pod.say(Answer::Line("replica nobody".to_owned()));
    }
    eventually("no leader", Duration::from_secs(5), || async {
        (roles.topology().leader == LeaderChoice::None).then_some(())
    })
    .await;
    let started = tokio::time::Instant::now();
    let err = roles.leader().await.expect_err("no leader");
    assert!(
        matches!(err, RoleError::NoLeader { waited, pods: 3, .. } if waited == Duration::from_millis(600)),
        "{err}"
    );
    assert!(started.elapsed() >= Duration::from_millis(600));

    s.pods[0].say(Answer::Line("leader".to_owned()));
    s.pods[1].say(Answer::Line("leader".to_owned()));
    eventually("two claimants", Duration::from_secs(5), || async {
        matches!(roles.topology().leader, LeaderChoice::Ambiguous(_)).then_some(())
    })
    .await;
    let started = tokio::time::Instant::now();
    let err = roles.leader().await.expect_err("split brain");
    assert!(
        started.elapsed() >= Duration::from_millis(600),
        "waited like a failover"
    );
    match err {
        RoleError::SplitBrain {
            claimants, waited, ..
        } => {
            assert_eq!(claimants, [s.key(0), s.key(1)]);
            assert_eq!(waited, Duration::from_millis(600));
        }
        other => panic!("{other}"),
    }

    // A request made while the split lasts gets the claimant a follower settles it for:
    // pod 2 follows pod 1.
    let patient = s.roles(fast().failover_wait(Duration::from_secs(10))).await;
    eventually("two claimants", Duration::from_secs(5), || async {
        matches!(patient.topology().leader, LeaderChoice::Ambiguous(_)).then_some(())
    })
    .await;
    let waiting = tokio::spawn({
        let patient = patient.clone();
        async move { patient.leader().await }
    });
    s.pods[2].say(Answer::Line(format!("replica {}", s.ip(1))));
    let leader = waiting
        .await
        .expect("task")
        .expect("the followed claimant, once a round sees the follower");
    assert_eq!(leader.key(), s.key(1));
    assert_eq!(roles.topology().leader, LeaderChoice::One(s.key(1)));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_frozen_pod_is_reported_down_without_holding_up_the_round() {
    let s = Setup::start().await;
    let roles = s.roles(fast()).await;
    s.pods[1].say(Answer::Silence);
    let topology = eventually("pod 1 reported down", Duration::from_secs(5), || async {
        let topology = roles.topology();
        topology.pods[1].report.is_none().then_some(topology)
    })
    .await;
    let error = topology.pods[1].error.clone().unwrap_or_default();
    assert!(
        error.contains("no answer to the probe within 300ms"),
        "{error}"
    );
    assert!(
        topology.round < Duration::from_millis(600),
        "{:?}",
        topology.round
    );
    assert_eq!(topology.leader, LeaderChoice::One(s.key(0)));
    assert_eq!(topology.pods[2].role(), Some(Role::Replica));

    // Thawed, it answers again over a new connection.
    s.pods[1].say(Answer::Line(format!("replica {}", s.ip(0))));
    eventually("pod 1 back", Duration::from_secs(5), || async {
        roles.topology().pods[1].is_up().then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_resend_takes_its_leader_from_a_fresh_round_within_one_failover_wait() {
    let s = Setup::start().await;
    // No timer rounds: only what is asked for.
    let wait = Duration::from_millis(600);
    let roles = s
        .roles(
            fast()
                .probe_interval(Duration::from_secs(3600))
                .failover_wait(wait),
        )
        .await;
    s.lead(1);
    assert_eq!(
        roles.leader().await.expect("stale").ordinal(),
        Some(0),
        "without a round, the last one still names pod 0"
    );
    // Pod 0 refused: the next leader comes from a round asked for now.
    let mut resend = roles.resend(tokio::time::Instant::now());
    let leader = resend.next_leader(Verdict::NotLeader).await.expect("fresh");
    assert_eq!(leader.ordinal(), Some(1));

    // With no leader, one budget for the whole request, however many attempts.
    for pod in &s.pods {
        pod.say(Answer::Line("replica nobody".to_owned()));
    }
    let started = tokio::time::Instant::now();
    let mut resend = roles.resend(started);
    let err = resend
        .next_leader(Verdict::Broken)
        .await
        .expect_err("no leader");
    assert!(matches!(err, RoleError::NoLeader { .. }), "{err}");
    let first = started.elapsed();
    assert!(first >= wait, "gave up after {first:?}");
    assert!(resend.is_spent());
    let err = resend
        .next_leader(Verdict::Broken)
        .await
        .expect_err("still none");
    assert!(matches!(err, RoleError::NoLeader { .. }), "{err}");
    assert!(
        started.elapsed() < first + wait / 2,
        "a second attempt got a second budget: {:?}",
        started.elapsed()
    );
    assert_eq!(resend.attempts(), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reply_that_says_roles_moved_reprobes_and_one_that_says_the_pod_is_lost_re_resolves() {
    // TTL 30: DNS is asked again only when something asks for it.
    let s = Setup::start_with_ttl(30).await;
    let roles = s
        .roles(fast().probe_interval(Duration::from_secs(3600)))
        .await;
    s.lead(1);
    assert_eq!(roles.topology().leader, LeaderChoice::One(s.key(0)));
    // `READONLY` from pod 0, say: a round runs now, not at the next timer.
    roles.observe(Verdict::NotLeader);
    eventually("pod 1 seen leading", Duration::from_secs(5), || async {
        (roles.topology().leader == LeaderChoice::One(s.key(1))).then_some(())
    })
    .await;

    // A broken connection: the pod may be gone, so DNS is asked again at once.
    let srv = "_db._tcp.db.default.svc.cluster.local";
    let before = s.cluster.queries_for(srv, RecordType::SRV);
    assert!(before >= 1, "the watch resolved the Service");
    roles.observe(Verdict::Broken);
    eventually("a fresh SRV query", Duration::from_secs(5), || async {
        (s.cluster.queries_for(srv, RecordType::SRV) > before).then_some(())
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_that_does_not_exist_fails_at_once_and_says_so() {
    let s = Setup::start().await;
    let watch = discovery(&s.cluster)
        .watch("_db._tcp.nothing")
        .await
        .expect("an empty watch");
    let roles = RoleWatch::start(watch, LineProbe, fast()).await;
    let started = tokio::time::Instant::now();
    let err = roles.leader().await.expect_err("no pods");
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "no failover_wait"
    );
    assert!(matches!(err, RoleError::NoPods { .. }), "{err}");
    assert!(
        err.to_string().contains("check its name and namespace"),
        "{err}"
    );
}
