//! The reconnect policy: full jitter within the doubling ceiling, reset on success, the
//! attempts-per-minute cap, and the new-invite report.

use std::time::Duration;

use syncshell_identity::Identity;
use syncshell_reconnect::{BackoffPolicy, Reconnector};

use crate::{rng, T0};

#[test]
fn ceilings_double_from_30_seconds_to_an_hour() {
    let p = BackoffPolicy::default();
    let secs: Vec<u64> = (1..=10).map(|f| p.ceiling(f).as_secs()).collect();
    assert_eq!(secs, [30, 60, 120, 240, 480, 960, 1920, 3600, 3600, 3600]);
    assert_eq!(p.ceiling(u32::MAX), Duration::from_secs(3600));
    // Extreme policies neither overflow nor panic, and reach their maximum.
    let wide = BackoffPolicy {
        base: Duration::from_millis(1),
        max: Duration::from_secs(365 * 86400),
        ..p
    };
    assert_eq!(wide.ceiling(100), wide.max);
    let huge = BackoffPolicy {
        base: Duration::from_secs(100 * 86400),
        max: Duration::MAX,
        ..p
    };
    let _ = huge.delay(40, &mut rng(9));
    let none = BackoffPolicy {
        max_attempts_per_minute: 0,
        ..p
    };
    let mut s = Reconnector::new(none);
    s.add_peer(Identity::generate(&mut rng(10)).peer_id(), T0);
    assert_eq!(s.poll_attempt(T0), None);
    assert_eq!(s.poll_timeout(T0), None);
}

#[test]
fn delays_are_spread_over_the_whole_window() {
    let p = BackoffPolicy::default();
    let mut r = rng(1);
    let delays: Vec<Duration> = (0..2000).map(|_| p.delay(3, &mut r)).collect();
    let ceiling = p.ceiling(3);
    assert!(delays.iter().all(|d| *d <= ceiling));
    // Full jitter: every quarter of [0, ceiling] is hit, none by more than a third.
    let mut quarters = [0usize; 4];
    for d in &delays {
        let q = ((d.as_millis() * 4) / (ceiling.as_millis() + 1)) as usize;
        quarters[q] += 1;
    }
    assert!(quarters.iter().all(|&n| n > 300 && n < 700), "{quarters:?}");
    // Deterministic under a seed.
    let mut r2 = rng(1);
    assert_eq!(p.delay(3, &mut r2), delays[0]);
}

#[test]
fn schedule_resets_on_success_and_reports_stale_peers() {
    let mut r = rng(2);
    let peer = Identity::generate(&mut r).peer_id();
    let mut s = Reconnector::new(BackoffPolicy::default());
    s.add_peer(peer, T0);
    let mut now = T0;
    let mut last = None;
    for n in 1..=6 {
        assert_eq!(s.poll_attempt(now), Some(peer), "attempt {n}");
        let retry = s.on_failure(&peer, now, &mut r).unwrap();
        assert_eq!(retry.failures, n);
        assert!(retry.at <= now.saturating_add(BackoffPolicy::default().ceiling(n)));
        assert_eq!(retry.needs_invite, n >= 6);
        now = retry.at.max(now.saturating_add(Duration::from_secs(61)));
        last = Some(retry);
    }
    assert!(last.unwrap().needs_invite);
    assert_eq!(s.needing_invite().count(), 1);
    s.on_success(&peer, now);
    assert_eq!(s.failures(&peer), Some(0));
    assert_eq!(s.needing_invite().count(), 0);
    assert_eq!(s.poll_attempt(now), Some(peer));
}

#[test]
fn attempts_per_minute_are_capped_and_earliest_due_goes_first() {
    let mut r = rng(3);
    let policy = BackoffPolicy {
        max_attempts_per_minute: 3,
        ..BackoffPolicy::default()
    };
    let mut s = Reconnector::new(policy);
    let peers: Vec<_> = (0..5)
        .map(|_| Identity::generate(&mut r).peer_id())
        .collect();
    for (i, p) in peers.iter().enumerate() {
        s.add_peer(*p, T0.saturating_add(Duration::from_millis(i as u64)));
    }
    let now = T0.saturating_add(Duration::from_secs(1));
    let got: Vec<_> = std::iter::from_fn(|| s.poll_attempt(now)).collect();
    assert_eq!(got, peers[..3].to_vec());
    // The next attempt is allowed when the oldest one leaves the window.
    assert_eq!(
        s.poll_timeout(now),
        Some(now.saturating_add(Duration::from_secs(60)))
    );
    let later = now.saturating_add(Duration::from_secs(60));
    assert_eq!(s.poll_attempt(later), Some(peers[3]));
    s.remove_peer(&peers[4]);
    // Peer 4 is gone; peers 0-2, attempted a minute ago without a report, are due again
    // since their first backoff ceiling (30 s) has passed: ties go by peer id.
    let first_again = peers[..3].iter().min().copied();
    assert_eq!(s.poll_attempt(later), first_again);
}
