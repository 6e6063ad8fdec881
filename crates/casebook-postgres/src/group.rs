//! Client-side group commit: the appends of threads sharing one store, run together.
//!
//! Every append holds the server's position counter from the moment it gets positions
//! until its commit has been flushed to the WAL (see [`crate::global_order`]), so appends
//! cannot overlap on the server: one commit latency each. Raw INSERTs from many sessions
//! share WAL flushes (PostgreSQL's own group commit); serialised appends cannot. So the
//! store batches on its side instead, leader/follower style:
//!
//! - a caller queues its request; if no leader is running, it becomes the leader at
//!   once (a lone writer never waits for company);
//! - the leader takes the queued requests (oldest first, up to the group's bounds), runs
//!   them as one group without holding the queue's lock, and posts each caller's own
//!   result;
//! - callers that queued while a group was running wait; once every caller of that
//!   group has picked up its result, one of those still waiting leads the next group,
//!   with everything that queued meanwhile;
//! - a new leader that finds fewer requests queued than the last group carried waits
//!   for the rest, at most a quarter of the last group's running time and never over
//!   2 ms (`GATHER` in `store.rs`): the last caller
//!   to pick up its result is a thread wake-up behind the others, and without this wait
//!   4 writers made groups of about 3 and 1 (4 writers: 0.63–0.68 of raw INSERTs before,
//!   0.79–0.87 after). A lone writer's last group had one member, so it never waits.
//!
//! So under load each group carries the appends that arrived during the previous one,
//! and the commit latency is shared among them. Waiting for the previous group's callers
//! to pick up their results (they are awake already: nobody waits for new arrivals) lets
//! those that append again at once join the next group: with 16 writer threads the
//! groups measured about 14 appends against about 8 when the next group started as soon
//! as the leader was done (`examples/pg_append_bench.rs`). The queue knows nothing of PostgreSQL:
//! the leader runs whatever `run` function it was given.

use std::collections::{HashMap, VecDeque};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// How big one group may grow. The first request of a group is always taken, whatever
/// its weight, so no request is ever too big to run.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Bounds {
    /// Most requests in one group.
    pub(crate) members: usize,
    /// Most total weight (the caller's measure: events, bytes) in one group.
    pub(crate) weight: usize,
    /// A new leader waits for as many requests as the last group carried, but at most
    /// this share of the last group's running time (see [`GroupCommit::submit`]).
    pub(crate) gather: Gather,
}

/// How long a leader may wait to gather the next group: `numerator / denominator` of
/// the last group's running time. Zero never waits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gather {
    pub(crate) numerator: u32,
    pub(crate) denominator: u32,
    /// Never longer than this, whatever the last group took (a group that waited on a
    /// dead connection or a lock must not make the next writers wait as long).
    pub(crate) ceiling: Duration,
}

impl Gather {
    /// Never wait: every group starts with what is queued.
    #[cfg(test)]
    pub(crate) const NEVER: Gather = Gather {
        numerator: 0,
        denominator: 1,
        ceiling: Duration::ZERO,
    };

    fn of(self, run: Duration) -> Duration {
        (run.saturating_mul(self.numerator) / self.denominator.max(1)).min(self.ceiling)
    }
}

/// Counters of the queue, for [`crate::GroupCommitStats`].
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Counters {
    pub(crate) groups: u64,
    pub(crate) members: u64,
    pub(crate) largest: usize,
    pub(crate) queued: usize,
}

struct Queued<R> {
    ticket: u64,
    weight: usize,
    request: R,
}

struct State<R, T> {
    pending: VecDeque<Queued<R>>,
    /// Results posted by a leader, by ticket, until their caller picks them up.
    done: HashMap<u64, T>,
    /// A group is running, or its results have not all been picked up yet.
    leading: bool,
    /// Results of the last group not yet picked up by their callers.
    unclaimed: usize,
    /// How many requests the last group carried, and how long it ran.
    last_size: usize,
    last_run: Duration,
    next_ticket: u64,
    counters: Counters,
}

/// The queue. See the module documentation.
pub(crate) struct GroupCommit<R, T> {
    state: Mutex<State<R, T>>,
    changed: Condvar,
    /// Signalled when a request is queued, for a leader gathering its group.
    arrived: Condvar,
    bounds: Bounds,
}

impl<R, T> GroupCommit<R, T> {
    pub(crate) fn new(bounds: Bounds) -> Self {
        GroupCommit {
            state: Mutex::new(State {
                pending: VecDeque::new(),
                done: HashMap::new(),
                leading: false,
                unclaimed: 0,
                last_size: 0,
                last_run: Duration::ZERO,
                next_ticket: 0,
                counters: Counters::default(),
            }),
            changed: Condvar::new(),
            arrived: Condvar::new(),
            bounds: Bounds {
                members: bounds.members.max(1),
                ..bounds
            },
        }
    }

    fn lock(&self) -> MutexGuard<'_, State<R, T>> {
        // Every update of the state is completed before the lock is released (the
        // leader's `run` is called without it), so a poisoned lock is still consistent.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The counters so far, and how many requests are queued right now.
    pub(crate) fn counters(&self) -> Counters {
        let state = self.lock();
        Counters {
            queued: state.pending.len(),
            ..state.counters
        }
    }

    /// Queues `request` and returns its result, running groups as the leader when no
    /// one else is.
    ///
    /// `run` gets a group's requests in queue order and returns one result per request,
    /// in the same order. Should it return too few, or panic, the requests left without
    /// a result get `lost()` (a panic is then resumed in the leader's thread only).
    pub(crate) fn submit(
        &self,
        request: R,
        weight: usize,
        run: impl Fn(Vec<R>) -> Vec<T>,
        lost: impl Fn() -> T,
    ) -> T {
        let mut state = self.lock();
        let ticket = state.next_ticket;
        state.next_ticket += 1;
        state.pending.push_back(Queued {
            ticket,
            weight,
            request,
        });
        self.arrived.notify_one();
        loop {
            if let Some(result) = state.done.remove(&ticket) {
                state.unclaimed = state.unclaimed.saturating_sub(1);
                if state.unclaimed == 0 {
                    state.leading = false;
                    self.changed.notify_all();
                }
                return result;
            }
            if state.leading {
                state = self
                    .changed
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            }
            // Lead one group. Our own request is in it unless more than a group's worth
            // queued before it; then we loop and lead (or wait for) the next one.
            state.leading = true;
            state = self.gather(state);
            let group = self.take_group(&mut state);
            state.counters.groups += 1;
            state.counters.members += group.len() as u64;
            state.counters.largest = state.counters.largest.max(group.len());
            drop(state);

            let (tickets, requests): (Vec<u64>, Vec<R>) =
                group.into_iter().map(|q| (q.ticket, q.request)).unzip();
            let started = Instant::now();
            let outcome = catch_unwind(AssertUnwindSafe(|| run(requests)));
            let ran = started.elapsed();

            state = self.lock();
            state.last_size = tickets.len();
            state.last_run = ran;
            let (results, panic) = match outcome {
                Ok(results) => (results, None),
                Err(panic) => (Vec::new(), Some(panic)),
            };
            let mut results = results.into_iter();
            state.unclaimed = tickets.len();
            for t in tickets {
                let result = results.next().unwrap_or_else(&lost);
                state.done.insert(t, result);
            }
            // The next group starts once every member of this one has its result (the
            // last to pick it up releases the lead): members that append again at once
            // then tend to make the next group rather than the one after it. That waits
            // only for threads that are already awake, never for new arrivals.
            self.changed.notify_all();
            if let Some(panic) = panic {
                // This caller leaves: its result, or its request if it was not in the
                // group, must not wait for it (the lead would never be released).
                if state.done.remove(&ticket).is_some() {
                    state.unclaimed = state.unclaimed.saturating_sub(1);
                }
                state.pending.retain(|q| q.ticket != ticket);
                if state.unclaimed == 0 {
                    state.leading = false;
                }
                drop(state);
                resume_unwind(panic);
            }
        }
    }

    /// Before a group is taken: while fewer requests are queued than the last group
    /// carried, waits for more, at most the [`Gather`] share of the last group's running
    /// time. Under steady load the callers of the last group append again at once, but
    /// the last of them to pick up its result is a thread wake-up behind the others: with
    /// 4 writers, groups alternated about 3 and 1 members without this wait. A lone
    /// writer (last group of one) never waits, and the wait is bounded, so a burst that
    /// ends costs one short wait. Called with the lead taken (`leading`), so arrivals
    /// queue rather than lead.
    fn gather<'a>(&self, mut state: MutexGuard<'a, State<R, T>>) -> MutexGuard<'a, State<R, T>> {
        let want = state.last_size.min(self.bounds.members);
        if state.pending.len() >= want {
            return state;
        }
        let deadline = Instant::now() + self.bounds.gather.of(state.last_run);
        while state.pending.len() < want {
            let now = Instant::now();
            if now >= deadline {
                break;
            }
            state = self
                .arrived
                .wait_timeout(state, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        state
    }

    /// The oldest queued requests, as many as the bounds allow (at least one).
    fn take_group(&self, state: &mut State<R, T>) -> Vec<Queued<R>> {
        let mut group = Vec::new();
        let mut weight = 0usize;
        while let Some(next) = state.pending.front() {
            let full = group.len() >= self.bounds.members
                || (!group.is_empty() && weight.saturating_add(next.weight) > self.bounds.weight);
            if full {
                break;
            }
            weight = weight.saturating_add(next.weight);
            if let Some(q) = state.pending.pop_front() {
                group.push(q);
            }
        }
        group
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use std::sync::mpsc;
    use std::sync::Arc;

    const WIDE: Bounds = Bounds {
        members: 100,
        weight: usize::MAX,
        gather: Gather::NEVER,
    };

    #[test]
    fn a_lone_request_runs_at_once_in_its_own_group() {
        let queue = GroupCommit::<u32, u32>::new(WIDE);
        let out = queue.submit(7, 1, |rs| rs.iter().map(|r| r * 10).collect(), || 0);
        assert_eq!(out, 70);
        let c = queue.counters();
        assert_eq!((c.groups, c.members, c.largest, c.queued), (1, 1, 1, 0));
    }

    /// Blocks the first group until told, so that the next requests pile up behind it,
    /// and waits (on the queue's own counter, no sleeping) until they have.
    fn pile_up(
        queue: &Arc<GroupCommit<u32, Result<u32, String>>>,
        requests: Vec<(u32, usize)>,
        run: impl Fn(Vec<u32>) -> Vec<Result<u32, String>> + Send + Sync + Clone + 'static,
    ) -> (Result<u32, String>, Vec<Result<u32, String>>) {
        let (entered_tx, entered_rx) = mpsc::channel::<()>();
        let (release_tx, release_rx) = mpsc::channel::<()>();
        let release_rx = Arc::new(Mutex::new(release_rx));
        let first = {
            let queue = Arc::clone(queue);
            let release_rx = Arc::clone(&release_rx);
            let run = run.clone();
            std::thread::spawn(move || {
                queue.submit(
                    0,
                    1,
                    |rs| {
                        entered_tx.send(()).unwrap();
                        release_rx.lock().unwrap().recv().unwrap();
                        run(rs)
                    },
                    || Err("lost".into()),
                )
            })
        };
        entered_rx.recv().unwrap();
        let mut handles = Vec::new();
        for (i, (r, w)) in requests.into_iter().enumerate() {
            let queue2 = Arc::clone(queue);
            let run = run.clone();
            handles.push(std::thread::spawn(move || {
                queue2.submit(r, w, run, || Err("lost".into()))
            }));
            // One at a time, so the queue order is the order given.
            while queue.counters().queued < i + 1 {
                std::thread::yield_now();
            }
        }
        release_tx.send(()).unwrap();
        let first = first.join().unwrap();
        let results = handles.into_iter().map(|h| h.join().unwrap()).collect();
        (first, results)
    }

    #[test]
    fn requests_queued_behind_a_running_group_run_as_one_group_with_their_own_results() {
        let queue = Arc::new(GroupCommit::new(WIDE));
        let groups = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let seen = Arc::clone(&groups);
        let run = move |rs: Vec<u32>| {
            seen.lock().unwrap().push(rs.clone());
            rs.iter()
                .map(|r| {
                    if r % 2 == 0 {
                        Ok(r * 10)
                    } else {
                        Err(format!("odd {r}"))
                    }
                })
                .collect()
        };
        let (first, results) = pile_up(&queue, (1..=6).map(|r| (r, 1)).collect(), run);
        assert_eq!(first, Ok(0));
        assert_eq!(
            results,
            vec![
                Err("odd 1".into()),
                Ok(20),
                Err("odd 3".into()),
                Ok(40),
                Err("odd 5".into()),
                Ok(60)
            ]
        );
        assert_eq!(
            *groups.lock().unwrap(),
            vec![vec![0], vec![1, 2, 3, 4, 5, 6]]
        );
        let c = queue.counters();
        assert_eq!((c.groups, c.members, c.largest, c.queued), (2, 7, 6, 0));
    }

    type Queue = Arc<GroupCommit<u32, Result<u32, String>>>;
    type Groups = Arc<Mutex<Vec<Vec<u32>>>>;

    /// A queue and the groups it ran, as [`recorder`] records them.
    fn recording(gather: Gather) -> (Queue, Groups) {
        (
            Arc::new(GroupCommit::new(Bounds { gather, ..WIDE })),
            Arc::new(Mutex::new(Vec::new())),
        )
    }

    /// A `run` that records each group in `groups` and answers each request with itself.
    fn recorder(
        groups: &Groups,
    ) -> impl Fn(Vec<u32>) -> Vec<Result<u32, String>> + Send + Sync + Clone + 'static {
        let seen = Arc::clone(groups);
        move |rs: Vec<u32>| {
            seen.lock().unwrap().push(rs.clone());
            rs.iter().map(|r| Ok(*r)).collect()
        }
    }

    /// After a group of three, the next leader waits for three requests (the bound here
    /// is far beyond the test's length), so requests that come one by one still share a
    /// group; after a lone request, a lone request runs at once.
    #[test]
    fn a_leader_gathers_as_many_requests_as_the_last_group_carried() {
        let (queue, groups) = recording(Gather {
            numerator: u32::MAX,
            denominator: 1,
            ceiling: Duration::MAX,
        });
        let run = recorder(&groups);
        let (first, piled) = pile_up(&queue, vec![(1, 1), (2, 1), (3, 1)], run.clone());
        assert_eq!((first, piled), (Ok(0), vec![Ok(1), Ok(2), Ok(3)]));
        let handles: Vec<_> = [10u32, 11, 12]
            .into_iter()
            .map(|r| {
                let queue = Arc::clone(&queue);
                let run = run.clone();
                std::thread::spawn(move || queue.submit(r, 1, run, || Err("lost".into())))
            })
            .collect();
        let mut results: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
        results.sort();
        assert_eq!(results, vec![Ok(10), Ok(11), Ok(12)]);
        let mut last = groups.lock().unwrap().last().cloned().unwrap();
        last.sort_unstable();
        assert_eq!(last, vec![10, 11, 12]);
        assert_eq!(queue.counters().groups, 3);
    }

    /// The wait is bounded: after a group of three, a lone request runs alone once the
    /// bound (a quarter of the last group's running time) has passed.
    #[test]
    fn a_lone_request_after_a_large_group_waits_only_so_long() {
        let (queue, groups) = recording(Gather {
            numerator: 1,
            denominator: 4,
            ceiling: Duration::from_millis(2),
        });
        let run = recorder(&groups);
        let (first, piled) = pile_up(&queue, vec![(1, 1), (2, 1), (3, 1)], run.clone());
        assert_eq!((first, piled), (Ok(0), vec![Ok(1), Ok(2), Ok(3)]));
        assert_eq!(queue.submit(9, 1, run, || Err("lost".into())), Ok(9));
        assert_eq!(groups.lock().unwrap().last().cloned(), Some(vec![9]));
    }

    #[test]
    fn groups_respect_their_bounds_and_take_an_oversized_request_alone() {
        let queue = Arc::new(GroupCommit::new(Bounds {
            members: 3,
            weight: 10,
            gather: Gather::NEVER,
        }));
        let groups = Arc::new(Mutex::new(Vec::<Vec<u32>>::new()));
        let seen = Arc::clone(&groups);
        let run = move |rs: Vec<u32>| {
            seen.lock().unwrap().push(rs.clone());
            rs.iter().map(|r| Ok(*r)).collect()
        };
        // (request, weight): 1..=4 weigh 1 (members bound), 5 weighs 9 (5 + 6 would be
        // 15), 6 weighs 6, 7 weighs 50 (alone, over the bound), 8 weighs 1.
        let requests = vec![
            (1, 1),
            (2, 1),
            (3, 1),
            (4, 1),
            (5, 9),
            (6, 6),
            (7, 50),
            (8, 1),
        ];
        let (first, results) = pile_up(&queue, requests, run);
        assert_eq!(first, Ok(0));
        assert_eq!(results, (1..=8).map(Ok).collect::<Vec<_>>());
        assert_eq!(
            *groups.lock().unwrap(),
            vec![
                vec![0],
                vec![1, 2, 3],
                vec![4, 5],
                vec![6],
                vec![7],
                vec![8]
            ]
        );
    }

    #[test]
    fn a_panicking_leader_fails_its_group_not_the_queue() {
        let queue = Arc::new(GroupCommit::new(WIDE));
        let run = |rs: Vec<u32>| -> Vec<Result<u32, String>> {
            if rs.contains(&3) {
                panic!("boom");
            }
            rs.into_iter().map(Ok).collect()
        };
        let outcome = {
            let queue = Arc::clone(&queue);
            std::thread::spawn(move || queue.submit(3, 1, run, || Err("lost".into()))).join()
        };
        assert!(outcome.is_err(), "the leader's panic reaches the leader");
        // A short answer leaves the rest lost, and the queue keeps working.
        let short = queue.submit(1, 1, |_| Vec::new(), || Err("lost".into()));
        assert_eq!(short, Err("lost".into()));
        assert_eq!(queue.submit(2, 1, run, || Err("lost".into())), Ok(2));
    }

    #[test]
    fn many_threads_each_get_their_own_result() {
        let queue = Arc::new(GroupCommit::new(Bounds {
            members: 4,
            weight: usize::MAX,
            gather: Gather::NEVER,
        }));
        let handles: Vec<_> = (0..8u32)
            .map(|t| {
                let queue = Arc::clone(&queue);
                std::thread::spawn(move || {
                    for i in 0..200u32 {
                        let r = t * 1000 + i;
                        let out = queue.submit(
                            r,
                            1,
                            |rs: Vec<u32>| rs.iter().map(|r| r + 1).collect(),
                            || u32::MAX,
                        );
                        assert_eq!(out, r + 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let c = queue.counters();
        assert_eq!(c.members, 1600);
        assert!(c.largest <= 4);
    }
}
