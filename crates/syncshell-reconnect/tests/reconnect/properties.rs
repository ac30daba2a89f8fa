//! Property tests: arbitrary message order, duplication and corruption never panic and never
//! leave a half-authenticated state.

use proptest::prelude::*;
use syncshell_reconnect::{Handshake, ReplayGuard};

use crate::{rng, run, shell, T0};

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn any_order_and_corruption_ends_cleanly(
        order in proptest::collection::vec((0usize..3, any::<bool>()), 0..8),
        flip in proptest::option::of((0usize..3, any::<proptest::sample::Index>(), 1u8..=255)),
        seed in any::<u64>(),
    ) {
        let s = shell(30);
        let (alice, bob) = (s.local(&s.alice), s.local(&s.bob));
        let (mut log, _, _) = run(&alice, &bob, b"cb", T0, 31);
        if let Some((which, at, x)) = flip {
            let m = &mut log[which];
            let i = at.index(m.len());
            m[i] ^= x;
        }
        let mut r = rng(seed);
        let mut a = Handshake::initiate(&alice, b"cb", T0, &mut r).unwrap();
        let _ = a.poll_transmit();
        let mut b = Handshake::respond(b"cb", T0).unwrap();
        let (mut ga, mut gb) = (ReplayGuard::new(), ReplayGuard::new());
        for (which, to_a) in order {
            let m = &log[which];
            let result = if to_a {
                a.handle(&alice, &mut ga, m, T0, &mut r)
            } else {
                b.handle(&bob, &mut gb, m, T0, &mut r)
            };
            // Recorded messages belong to another run: nothing here can authenticate.
            let _ = result;
            prop_assert!(a.session().is_none());
            prop_assert!(b.session().is_none());
            // Finished means exactly one of session/error.
            for h in [&a, &b] {
                prop_assert_eq!(h.is_finished(), h.error().is_some() || h.session().is_some());
            }
        }
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let s = shell(32);
        let (alice, bob) = (s.local(&s.alice), s.local(&s.bob));
        let mut r = rng(33);
        let mut b = Handshake::respond(b"cb", T0).unwrap();
        prop_assert!(b.handle(&bob, &mut ReplayGuard::new(), &bytes, T0, &mut r).is_err());
        let mut a = Handshake::initiate(&alice, b"cb", T0, &mut r).unwrap();
        let _ = a.poll_transmit();
        prop_assert!(a.handle(&alice, &mut ReplayGuard::new(), &bytes, T0, &mut r).is_err());
        prop_assert!(a.session().is_none() && b.session().is_none());
    }

    /// A genuine run with one corrupted byte in one message never yields two sessions that
    /// disagree: either both sides agree on the key, or at least one side has no session.
    #[test]
    fn corruption_in_flight_never_splits_keys(which in 0usize..3, at in any::<proptest::sample::Index>(), x in 1u8..=255) {
        let s = shell(34);
        let (alice, bob) = (s.local(&s.alice), s.local(&s.bob));
        let mut r = rng(35);
        let mut a = Handshake::initiate(&alice, b"cb", T0, &mut r).unwrap();
        let mut b = Handshake::respond(b"cb", T0).unwrap();
        let (mut ga, mut gb) = (ReplayGuard::new(), ReplayGuard::new());
        let mut n = 0;
        for _ in 0..3 {
            while let Some(mut m) = a.poll_transmit() {
                if n == which { let i = at.index(m.len()); m[i] ^= x; }
                n += 1;
                let _ = b.handle(&bob, &mut gb, &m, T0, &mut r);
            }
            while let Some(mut m) = b.poll_transmit() {
                if n == which { let i = at.index(m.len()); m[i] ^= x; }
                n += 1;
                let _ = a.handle(&alice, &mut ga, &m, T0, &mut r);
            }
        }
        if let (Some(x), Some(y)) = (a.session(), b.session()) {
            prop_assert_eq!(x.key(), y.key());
        }
    }
}
