//! The PostgreSQL store with many writers: the global order never lets a
//! reader skip an event, however slowly transactions commit; processes and
//! threads appending and stepping machines against one database lose and
//! duplicate nothing, and each racing step has exactly one winner; cursors
//! and subscriptions see other processes' events; the projection cache is
//! a table every process shares.
//!
//! Needs a server: `scripts/with-postgres.sh cargo test -p batpak-tests
//! --features postgres --test postgres` (CI runs it so). Without
//! `BATPAK_PG_URL` each test says it was skipped.

#[path = "common/shared_log.rs"]
mod shared_log;

#[cfg(feature = "postgres")]
mod with_server {
    use std::collections::{BTreeMap, BTreeSet};
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    use std::time::Duration;

    use batpak::prelude::*;
    use batpak::{Delivery, PgConfig, PgStore};
    use serde::{Deserialize, Serialize};

    use crate::shared_log::fresh_pg;

    const KIND: EventKind = EventKind::new(9, 1);

    fn coord(entity: &str) -> Coordinate {
        Coordinate::new(entity, "test").unwrap()
    }

    /// Makes every insert into the log sleep a random while inside its
    /// transaction, after its position is taken and before it commits: the
    /// window in which a SQL event store with sequence-assigned positions
    /// lets a reader see position n+1 before n commits.
    fn slow_down_inserts(url: &str, schema: &str) {
        let sql = format!(
            "CREATE FUNCTION {schema}.dawdle() RETURNS trigger LANGUAGE plpgsql AS
               $$ BEGIN PERFORM pg_sleep(random() * 0.01); RETURN NEW; END $$;
             CREATE TRIGGER dawdle AFTER INSERT ON {schema}.events
               FOR EACH ROW EXECUTE FUNCTION {schema}.dawdle();"
        );
        let status = Command::new("psql")
            .args([url, "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql])
            .status()
            .expect("psql runs (it comes with the server)");
        assert!(status.success(), "installing the slow trigger failed");
    }

    #[test]
    fn readers_never_skip_an_event_committed_by_slow_interleaved_transactions() {
        let Some(log) =
            fresh_pg("readers_never_skip_an_event_committed_by_slow_interleaved_transactions")
        else {
            return;
        };
        slow_down_inserts(&log.url, log.schema());
        let (writers, per_writer) = (4u64, 40u64);
        let total = writers * per_writer;
        let sub = log.subscribe::<u64>(Region::all()).unwrap();
        std::thread::scope(|s| {
            for w in 0..writers {
                let log = &log.store;
                s.spawn(move || {
                    for n in 0..per_writer {
                        let c = coord(&format!("w{w}"));
                        if n % 5 == 4 {
                            let batch = [(KIND, n), (KIND, n)];
                            log.append_batch(&c, &batch, AppendOptions::new()).unwrap();
                        } else {
                            log.append(&c, KIND, &n).unwrap();
                        }
                    }
                });
            }
            // Cursors polling as fast as they can while the writers dawdle.
            for _ in 0..2 {
                let log = &log.store;
                s.spawn(move || {
                    let expected = total + writers * (per_writer / 5);
                    let mut cursor = log.cursor::<u64>(Region::all(), 0).unwrap();
                    let mut seen = Vec::new();
                    while (seen.len() as u64) < expected {
                        match cursor.next_timeout(Duration::from_secs(30)).unwrap() {
                            Some(e) => seen.push(e.position()),
                            None => panic!("the cursor waited 30 s after {} events", seen.len()),
                        }
                    }
                    assert_eq!(seen, (0..expected).collect::<Vec<_>>(), "a cursor skipped");
                });
            }
        });
        let expected = total + writers * (per_writer / 5);
        let mut delivered = Vec::new();
        while (delivered.len() as u64) < expected {
            match sub.recv_timeout(Duration::from_secs(30)).unwrap() {
                Some(Delivery::Event(e)) => delivered.push(e.position()),
                other => panic!("after {} deliveries: {other:?}", delivered.len()),
            }
        }
        assert_eq!(
            delivered,
            (0..expected).collect::<Vec<_>>(),
            "the subscription skipped"
        );
        assert!(log.verify().unwrap().is_ok());
    }

    #[test]
    fn the_stream_sequence_constraint_refuses_a_writer_that_skips_the_lock() {
        let Some(log) =
            fresh_pg("the_stream_sequence_constraint_refuses_a_writer_that_skips_the_lock")
        else {
            return;
        };
        log.append(&coord("a"), KIND, &1u64).unwrap();
        // A second row for sequence 1 of the same stream, written as if by
        // a writer that took no lock and checked no version.
        let schema = log.schema();
        let sql = format!(
            "INSERT INTO {schema}.events (position, entity, scope, sequence, event_id, kind, header, payload, hash)
             VALUES (1, 'a', 'test', 1, '\\x01', 0, '', '', '')"
        );
        let out = Command::new("psql")
            .args([log.url.as_str(), "-q", "-v", "ON_ERROR_STOP=1", "-c", &sql])
            .output()
            .expect("psql runs (it comes with the server)");
        assert!(!out.status.success(), "the duplicate sequence was stored");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("events_stream_sequence"), "{stderr}");
        assert_eq!(log.stream::<u64>(&coord("a")).unwrap().len(), 1);
        assert!(log.verify().unwrap().is_ok());
    }

    #[test]
    fn a_subscription_reports_an_event_of_another_type_and_goes_on() {
        let Some(log) = fresh_pg("a_subscription_reports_an_event_of_another_type_and_goes_on")
        else {
            return;
        };
        let sub = log.subscribe::<u64>(Region::all()).unwrap();
        log.append(&coord("a"), KIND, &1u64).unwrap();
        log.append(&coord("a"), KIND, &"not a number").unwrap();
        log.append(&coord("a"), KIND, &3u64).unwrap();
        let wait = Duration::from_secs(10);
        assert!(matches!(sub.recv_timeout(wait), Ok(Some(Delivery::Event(e))) if e.payload == 1));
        assert!(matches!(
            sub.recv_timeout(wait),
            Err(batpak::SubscriptionError::Decode { position: 1, .. })
        ));
        assert!(matches!(sub.recv_timeout(wait), Ok(Some(Delivery::Event(e))) if e.payload == 3));
        // A cursor stops before such an event, as the embedded one does.
        let mut cursor = log.cursor::<u64>(Region::all(), 1).unwrap();
        assert!(matches!(cursor.try_next(), Err(StoreError::Codec(_))));
        assert_eq!(cursor.position(), 1);
    }

    #[test]
    fn in_a_shared_commit_a_refused_call_rolls_back_alone() {
        let Some(log) = fresh_pg("in_a_shared_commit_a_refused_call_rolls_back_alone") else {
            return;
        };
        // Slow transactions make the threads' calls queue up and commit in
        // groups; every other call expects a version its stream never has.
        slow_down_inserts(&log.url, log.schema());
        let (threads, calls) = (8u64, 30u64);
        std::thread::scope(|s| {
            for t in 0..threads {
                let log = &log.store;
                s.spawn(move || {
                    let c = coord(&format!("t{t}"));
                    let mut version = 0;
                    for n in 0..calls {
                        if n % 2 == 1 {
                            let wrong = AppendOptions::new().expect(ExpectedVersion::Exact(version + 5));
                            let err = log.append_with(&c, KIND, &n, wrong).unwrap_err();
                            assert!(matches!(err, StoreError::VersionMismatch { actual, .. } if actual == version));
                            let key = AppendOptions::new().idempotency_key(format!("t{t}-first"));
                            if n > 1 {
                                // The key is taken: same content replays, other content conflicts.
                                assert!(matches!(
                                    log.append_with(&c, KIND, &n, key),
                                    Err(StoreError::IdempotencyConflict { .. })
                                ));
                            }
                        } else {
                            let opts = if n == 0 {
                                AppendOptions::new().expect(ExpectedVersion::NoStream).idempotency_key(format!("t{t}-first"))
                            } else {
                                AppendOptions::new().expect(ExpectedVersion::Exact(version))
                            };
                            let r = log.append_with(&c, KIND, &n, opts).unwrap();
                            assert_eq!(r.sequence, version + 1);
                            version += 1;
                        }
                    }
                });
            }
        });
        for t in 0..threads {
            let payloads: Vec<u64> = log
                .stream::<u64>(&coord(&format!("t{t}")))
                .unwrap()
                .iter()
                .map(|e| e.payload)
                .collect();
            assert_eq!(payloads, (0..calls).step_by(2).collect::<Vec<_>>(), "t{t}");
        }
        let report = log.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.damage);
        assert_eq!(report.events, threads * calls / 2);
    }

    /// The machine the writer processes step.
    #[derive(StateMachine, Debug, Clone, PartialEq, Serialize, Deserialize)]
    #[machine(states(Open, Claimed, Done), initial = Open)]
    enum Task {
        #[transition(Open -> Claimed)]
        Claimed { by: String },
        #[transition(Claimed -> Done)]
        Done,
    }

    const CHILD_URL: &str = "BATPAK_PG_CHILD_URL";
    const CHILD_SCHEMA: &str = "BATPAK_PG_CHILD_SCHEMA";
    const CHILD_ID: &str = "BATPAK_PG_CHILD_ID";
    const PROCESSES: u64 = 4;
    const THREADS: u64 = 3;
    const APPENDS: u64 = 25;
    const RACES: u64 = 8;

    /// Child half: does nothing unless started by the many-writers test.
    #[test]
    fn pg_child_writer() {
        let (Ok(url), Ok(schema), Ok(id)) = (
            std::env::var(CHILD_URL),
            std::env::var(CHILD_SCHEMA),
            std::env::var(CHILD_ID),
        ) else {
            return;
        };
        let log = PgStore::connect(PgConfig::new(url).schema(schema)).unwrap();
        std::thread::scope(|s| {
            for t in 0..THREADS {
                let (log, id) = (&log, &id);
                s.spawn(move || {
                    let me = format!("p{id}t{t}");
                    // Own stream, each append at the exact version it expects.
                    let own = coord(&me);
                    for n in 0..APPENDS {
                        let expect = if n == 0 {
                            ExpectedVersion::NoStream
                        } else {
                            ExpectedVersion::Exact(n)
                        };
                        let r = log
                            .append_with(&own, KIND, &n, AppendOptions::new().expect(expect))
                            .unwrap();
                        assert_eq!(r.sequence, n + 1);
                    }
                    // Every thread of every process races to claim each task.
                    for k in 0..RACES {
                        let task = coord(&format!("task:{k}"));
                        // A handle made before anyone claimed it; losing the
                        // race shows as the stream existing (create) or as a
                        // stale version (the step): never as a second claim.
                        let open = match Task::create(log, task) {
                            Ok(open) => open,
                            Err(MachineError::AlreadyExists { .. }) => continue,
                            Err(e) => panic!("{me} could not create task {k}: {e}"),
                        };
                        match open.claimed(log, me.clone()) {
                            Ok(_) => println!("WON {k} {me}"),
                            Err(e) => assert!(
                                matches!(e.error(), MachineError::Conflict { .. }),
                                "{me} lost task {k} with {e}"
                            ),
                        }
                    }
                });
            }
        });
    }

    #[test]
    fn many_processes_and_threads_lose_nothing_and_each_race_has_one_winner() {
        let Some(log) =
            fresh_pg("many_processes_and_threads_lose_nothing_and_each_race_has_one_winner")
        else {
            return;
        };
        // Subscribed and a cursor opened here, in the parent: every event
        // comes from another process.
        let feed = log
            .subscribe::<serde::de::IgnoredAny>(Region::all())
            .unwrap();
        let mut cursor = log
            .cursor::<serde::de::IgnoredAny>(Region::all(), 0)
            .unwrap();
        let exe = std::env::current_exe().unwrap();
        let children: Vec<_> = (0..PROCESSES)
            .map(|p| {
                Command::new(&exe)
                    .args([
                        "--exact",
                        "with_server::pg_child_writer",
                        "--nocapture",
                        "--test-threads=1",
                    ])
                    .env(CHILD_URL, &log.url)
                    .env(CHILD_SCHEMA, log.schema())
                    .env(CHILD_ID, p.to_string())
                    .stdout(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let mut winners: BTreeMap<u64, Vec<String>> = BTreeMap::new();
        for mut child in children {
            let out = child.stdout.take().unwrap();
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                // The harness may print its "test ... " on the same line.
                if let Some(rest) = line.find("WON ").map(|at| &line[at + 4..]) {
                    let (k, who) = rest.split_once(' ').unwrap();
                    winners
                        .entry(k.parse().unwrap())
                        .or_default()
                        .push(who.to_owned());
                }
            }
            assert!(child.wait().unwrap().success(), "a writer process failed");
        }
        // Exactly one winner per race, and the log agrees with it.
        assert_eq!(
            winners.keys().copied().collect::<Vec<_>>(),
            (0..RACES).collect::<Vec<_>>()
        );
        for (k, who) in &winners {
            assert_eq!(who.len(), 1, "task {k} was won by {who:?}");
            let events = log.stream::<Task>(&coord(&format!("task:{k}"))).unwrap();
            assert_eq!(events.len(), 1, "task {k}");
            assert_eq!(events[0].payload, Task::Claimed { by: who[0].clone() });
        }
        // Nothing lost or duplicated; sequences and positions gapless.
        for p in 0..PROCESSES {
            for t in 0..THREADS {
                let events = log.stream::<u64>(&coord(&format!("p{p}t{t}"))).unwrap();
                let payloads: Vec<u64> = events.iter().map(|e| e.payload).collect();
                assert_eq!(payloads, (0..APPENDS).collect::<Vec<_>>(), "p{p}t{t}");
                assert!(
                    events
                        .iter()
                        .enumerate()
                        .all(|(i, e)| e.sequence() == i as u64 + 1)
                );
            }
        }
        let all = log.query_headers(&Region::all()).unwrap();
        let total = PROCESSES * THREADS * APPENDS + RACES;
        assert_eq!(
            all.iter().map(|h| h.position).collect::<Vec<_>>(),
            (0..total).collect::<Vec<_>>()
        );
        let mut fed = Vec::new();
        while (fed.len() as u64) < total {
            match feed.recv_timeout(Duration::from_secs(30)).unwrap() {
                Some(Delivery::Event(e)) => fed.push(e.position()),
                other => panic!("after {} deliveries: {other:?}", fed.len()),
            }
        }
        assert_eq!(fed, (0..total).collect::<Vec<_>>(), "the subscription");
        let mut read = Vec::new();
        while let Some(e) = cursor.try_next().unwrap() {
            read.push(e.position());
        }
        assert_eq!(read, (0..total).collect::<Vec<_>>(), "the cursor");
        let ids: BTreeSet<_> = all.iter().map(|h| h.id).collect();
        assert_eq!(ids.len() as u64, total, "duplicate event ids");
        let report = log.verify().unwrap();
        assert!(report.is_ok(), "{:?}", report.damage);
        assert_eq!(report.streams, PROCESSES * THREADS + RACES);
    }

    /// Revenue over the log, to show the cache table shared between handles.
    #[derive(Debug, Default, PartialEq, Serialize, Deserialize)]
    struct Sum(u64);

    impl Projection for Sum {
        type Event = u64;
        const NAME: &'static str = "postgres.sum";
        const VERSION: u32 = 1;
        fn apply(&mut self, event: &StoredEvent<u64>) {
            self.0 += event.payload;
        }
    }

    #[test]
    fn another_handle_resumes_a_named_cursor_and_reuses_the_projection_table() {
        let Some(log) =
            fresh_pg("another_handle_resumes_a_named_cursor_and_reuses_the_projection_table")
        else {
            return;
        };
        for n in 1..=5u64 {
            log.append(&coord("a"), KIND, &n).unwrap();
        }
        let mut cursor = log.named_cursor::<u64>("outbox", Region::all()).unwrap();
        assert_eq!(cursor.try_next().unwrap().unwrap().payload, 1);
        assert_eq!(cursor.try_next().unwrap().unwrap().payload, 2);
        cursor.save("outbox").unwrap();
        let (sum, report) = log.project_with_report::<Sum>(&Region::all()).unwrap();
        assert_eq!((sum.0, report.applied, report.from_cache), (15, 5, false));
        // Another handle, as another process would open it.
        let other = PgStore::connect(PgConfig::new(log.url.clone()).schema(log.schema())).unwrap();
        let mut resumed = other.named_cursor::<u64>("outbox", Region::all()).unwrap();
        assert_eq!(resumed.position(), 2);
        assert_eq!(resumed.try_next().unwrap().unwrap().payload, 3);
        assert!(
            other
                .named_cursor::<u64>("outbox", Region::entity("b"))
                .is_err(),
            "another region resumed"
        );
        other.append(&coord("a"), KIND, &10).unwrap();
        let (sum, report) = other.project_with_report::<Sum>(&Region::all()).unwrap();
        assert_eq!((sum.0, report.applied, report.from_cache), (25, 1, true));
        assert!(matches!(
            PgStore::connect(PgConfig::new(log.url.clone()).schema("No-Such; DROP")),
            Err(StoreError::Postgres { op: "schema", .. })
        ));
    }
}

/// Needs no server: a store that cannot reach one, or is given a schema
/// name that could inject SQL, is a typed error naming the problem.
#[cfg(feature = "postgres")]
#[test]
fn an_unreachable_server_or_a_bad_schema_name_is_a_typed_error() {
    use batpak::{PgConfig, PgStore, StoreError};
    // Port 1 on loopback: nothing listens there.
    let url = "postgresql://nobody@127.0.0.1:1/none?connect_timeout=2";
    let err = PgStore::connect(PgConfig::new(url)).unwrap_err();
    assert!(
        matches!(err, StoreError::Postgres { op: "connect", .. }),
        "{err}"
    );
    for bad in [
        "",
        "Upper",
        "drop table x; --",
        "1starts_with_digit",
        &"x".repeat(64),
    ] {
        let err = PgStore::connect(PgConfig::new(url).schema(bad)).unwrap_err();
        assert!(
            matches!(&err, StoreError::Postgres { op: "schema", message, .. } if message.contains("is not allowed")),
            "{bad:?}: {err}"
        );
    }
    let err = PgStore::connect(PgConfig::new("host=a\0b")).unwrap_err();
    assert!(
        matches!(err, StoreError::Postgres { op: "connect", .. }),
        "{err}"
    );
}

#[cfg(not(feature = "postgres"))]
#[test]
fn postgres_tests_need_the_postgres_feature() {
    shared_log::skipped(
        "the PostgreSQL tests",
        "batpak-tests was built without its `postgres` feature",
    );
}
