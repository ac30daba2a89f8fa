//! Loss recovery added in this copy (see PATCHES.md): miss indications per chunk, repeated
//! fast retransmission, the tail loss probe and immediate SACKs for duplicates.

use super::*;
use crate::chunk::chunk_selective_ack::GapAckBlock;

const PPI: PayloadProtocolIdentifier = PayloadProtocolIdentifier::Binary;

/// A sender with a measured 20 ms round trip and `n` one-chunk messages in flight;
/// returns the TSN of the first.
fn sender_with_flight(n: usize, now: Instant) -> Result<(Association, u32)> {
    let mut a = timed_test_association();
    a.rto_mgr.set_rto(1000, false);
    a.rto_mgr.set_new_rtt(20);
    a.cwnd = 64 * 1024;
    let first = a.my_next_tsn;
    let mut s = a.open_stream(1, PPI)?;
    for _ in 0..n {
        s.write_sctp(now, &Bytes::from_static(b"one chunk"), PPI)?;
    }
    assert_eq!(n, data_chunks(&a.gather_outbound(now).0));
    Ok((a, first))
}

/// A SACK for everything below `first` and for `first + start ..= first + end`.
fn sack(first: u32, start: u16, end: u16) -> ChunkSelectiveAck {
    ChunkSelectiveAck {
        cumulative_tsn_ack: first.wrapping_sub(1),
        advertised_receiver_window_credit: 65536,
        gap_ack_blocks: vec![GapAckBlock {
            start: start + 1,
            end: end + 1,
        }],
        ..Default::default()
    }
}

fn sent_tsns(a: &mut Association, now: Instant) -> Vec<u32> {
    transmitted_data(&a.gather_outbound(now).0)
        .iter()
        .map(|c| c.tsn)
        .collect()
}

#[test]
fn one_sack_acknowledging_three_chunks_above_a_hole_fast_retransmits_it() -> Result<()> {
    let now = Instant::now();
    let (mut a, first) = sender_with_flight(5, now)?;
    let cwnd = a.cwnd;
    a.handle_sack(&sack(first, 1, 3), now)?;
    assert!(a.in_fast_recovery);
    assert_eq!(cwnd / 2, a.cwnd);
    assert_eq!(vec![first], sent_tsns(&mut a, now));
    Ok(())
}

#[test]
fn two_chunks_above_a_hole_are_not_yet_a_loss() -> Result<()> {
    let now = Instant::now();
    let (mut a, first) = sender_with_flight(5, now)?;
    a.handle_sack(&sack(first, 1, 2), now)?;
    assert!(!a.in_fast_recovery);
    assert_eq!(Vec::<u32>::new(), sent_tsns(&mut a, now));
    Ok(())
}

#[test]
fn a_lost_retransmission_is_found_by_data_sent_after_it() -> Result<()> {
    let now = Instant::now();
    let (mut a, first) = sender_with_flight(5, now)?;
    a.handle_sack(&sack(first, 1, 3), now)?;
    assert_eq!(vec![first], sent_tsns(&mut a, now));

    // Acknowledging DATA sent before the retransmission says nothing about it.
    a.handle_sack(&sack(first, 1, 4), now)?;
    assert_eq!(Vec::<u32>::new(), sent_tsns(&mut a, now));

    // Three chunks sent after it arrive while it is still missing: it was lost again.
    let mut s = a.stream(1)?;
    for _ in 0..3 {
        s.write_sctp(now, &Bytes::from_static(b"one chunk"), PPI)?;
    }
    assert_eq!(3, sent_tsns(&mut a, now).len());
    a.handle_sack(&sack(first, 1, 7), now)?;
    assert_eq!(vec![first], sent_tsns(&mut a, now));
    assert_eq!(Some(3), a.inflight_queue.get(first).map(|c| c.nsent));
    Ok(())
}

#[test]
fn the_probe_resends_the_highest_outstanding_chunk_without_shrinking_cwnd() -> Result<()> {
    let now = Instant::now();
    let (mut a, first) = sender_with_flight(3, now)?;
    let cwnd = a.cwnd;
    let at = a.timers.get(Timer::Probe).expect("a probe is armed");
    assert_eq!(now + Duration::from_millis(40), at, "two round trips");
    assert!(at < a.timers.get(Timer::T3RTX).expect("T3-rtx is armed"));
    a.handle_timeout(at);
    assert_eq!(vec![first + 2], sent_tsns(&mut a, at));
    assert_eq!(cwnd, a.cwnd);
    assert!(!a.in_fast_recovery);
    assert_eq!(0, a.stats.get_num_t3timeouts());
    Ok(())
}

#[test]
fn the_probe_retransmits_a_hole_a_sack_reported_and_enters_fast_recovery() -> Result<()> {
    let now = Instant::now();
    let (mut a, first) = sender_with_flight(3, now)?;
    let later = now + Duration::from_millis(5);
    a.handle_sack(&sack(first, 1, 1), later)?;
    let at = a
        .timers
        .get(Timer::Probe)
        .expect("every SACK rearms the probe");
    assert_eq!(later + Duration::from_millis(2 * a.rto_mgr.srtt), at);
    a.handle_timeout(at);
    assert!(a.in_fast_recovery);
    assert_eq!(vec![first], sent_tsns(&mut a, at));
    Ok(())
}

#[test]
fn no_probe_before_a_round_trip_is_measured() -> Result<()> {
    let now = Instant::now();
    let mut a = timed_test_association();
    a.rto_mgr.set_rto(1000, false);
    a.open_stream(1, PPI)?
        .write_sctp(now, &Bytes::from_static(b"one chunk"), PPI)?;
    a.gather_outbound(now);
    assert_eq!(a.timers.get(Timer::T3RTX), a.timers.get(Timer::Probe));
    Ok(())
}

#[test]
fn a_t3_expiry_stops_probing_until_the_next_sack() -> Result<()> {
    let now = Instant::now();
    let (mut a, _) = sender_with_flight(3, now)?;
    let t3 = a.timers.get(Timer::T3RTX).expect("T3-rtx is armed");
    a.handle_timeout(t3);
    assert_eq!(None, a.timers.get(Timer::Probe));
    assert_eq!(1, a.stats.get_num_t3timeouts());
    Ok(())
}

#[test]
fn duplicate_data_is_acknowledged_at_once() -> Result<()> {
    let now = Instant::now();
    let mut sender = timed_test_association();
    let first = sender.my_next_tsn;
    sender
        .open_stream(1, PPI)?
        .write_sctp(now, &Bytes::from_static(b"one chunk"), PPI)?;
    let data = transmitted_data(&sender.gather_outbound(now).0);
    let mut receiver = timed_test_association();
    receiver.peer_last_tsn = first.wrapping_sub(1);
    receiver.open_stream(1, PPI)?;
    let deliver = |r: &mut Association| -> Result<()> {
        r.handle_chunk_start();
        for d in &data {
            r.handle_data(d)?;
        }
        r.handle_chunk_end(now);
        Ok(())
    };

    deliver(&mut receiver)?;
    assert_eq!(
        AckState::Delay,
        receiver.ack_state,
        "new DATA: delayed SACK"
    );
    receiver.handle_timeout(receiver.timers.get(Timer::Ack).expect("ack timer"));
    receiver.gather_outbound(now);
    assert_eq!(AckState::Idle, receiver.ack_state);

    deliver(&mut receiver)?;
    assert_eq!(
        AckState::Immediate,
        receiver.ack_state,
        "duplicate: SACK now"
    );
    Ok(())
}

#[test]
fn a_loss_does_not_halve_cwnd_below_what_the_path_delivered() -> Result<()> {
    let now = Instant::now();
    let (mut a, first) = sender_with_flight(5, now)?;
    // The path delivered 10 MB/s at a 20 ms round trip: 200 kB in flight, 250 kB with gain.
    a.min_rtt = Some(Duration::from_millis(20));
    a.delivery_rates.push_back(10_000_000.0);
    a.cwnd = 300_000;
    a.handle_sack(&sack(first, 1, 3), now + Duration::from_millis(20))?;
    assert!(a.in_fast_recovery);
    assert_eq!(250_000, a.cwnd);
    assert_eq!(250_000, a.ssthresh);
    Ok(())
}

#[test]
fn far_above_the_delivery_floor_a_loss_halves_cwnd() -> Result<()> {
    let now = Instant::now();
    let (mut a, first) = sender_with_flight(5, now)?;
    a.min_rtt = Some(Duration::from_millis(20));
    a.delivery_rates.push_back(10_000_000.0);
    a.cwnd = 1_000_000;
    a.handle_sack(&sack(first, 1, 3), now + Duration::from_millis(20))?;
    assert_eq!(500_000, a.cwnd);
    Ok(())
}

#[test]
fn the_delivery_floor_is_the_highest_recent_rate_and_forgets_old_ones() -> Result<()> {
    let now = Instant::now();
    let (mut a, _) = sender_with_flight(1, now)?;
    a.min_rtt = Some(Duration::from_millis(10));
    assert_eq!(0, a.delivery_floor(), "no rate measured yet");
    // 50 ms intervals (the shortest): 100 kB in the first, 10 kB in each later one.
    let mut t = now;
    a.sample_delivery_rate(0, t);
    t += Duration::from_millis(50);
    a.sample_delivery_rate(100_000, t);
    assert_eq!(25_000, a.delivery_floor(), "1.25 x 2 MB/s x 10 ms");
    for _ in 0..DELIVERY_RATE_SAMPLES {
        t += Duration::from_millis(50);
        a.sample_delivery_rate(10_000, t);
    }
    assert_eq!(
        2_500,
        a.delivery_floor(),
        "the 2 MB/s interval has aged out"
    );
    Ok(())
}

#[test]
fn after_a_t3_expiry_slow_start_runs_below_the_floor() -> Result<()> {
    let now = Instant::now();
    let (mut a, first) = sender_with_flight(3, now)?;
    a.min_rtt = Some(Duration::from_millis(20));
    a.delivery_rates.push_back(10_000_000.0);
    let t3 = a.timers.get(Timer::T3RTX).expect("T3-rtx is armed");
    a.handle_timeout(t3);
    assert_eq!(a.mtu, a.cwnd);
    assert_eq!(250_000, a.ssthresh);
    sent_tsns(&mut a, t3);
    a.handle_sack(&sack(first, 0, 0), t3)?;
    assert!(
        a.cwnd < a.ssthresh,
        "slow start, not the floor: cwnd {}",
        a.cwnd
    );
    Ok(())
}
