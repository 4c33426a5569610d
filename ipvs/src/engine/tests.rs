//! The engine against a scripted kernel: every reply below is what Linux
//! sends (layouts from `net/netlink/af_netlink.c` and `genetlink.c`), built
//! by hand, so each quirk is exercised without a kernel.

use netlink_packet_core::{
    NLM_F_ACK, NLM_F_ACK_TLVS, NLM_F_CAPPED, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_MULTIPART,
    NLM_F_REQUEST, NLMSG_DONE, NLMSG_ERROR, NLMSG_NOOP, NetlinkHeader,
};

use super::wire::{messages, push_message};
use super::*;
use crate::codec::{Command, Ipvs, IpvsMessage};
use crate::model::{DaemonState, Scheduler, Service, ServiceKey};

const IPVS_ID: u16 = 0x25;

/// The messages of the datagram the engine wants written.
fn sent(engine: &mut Engine<Ipvs>) -> Vec<(NetlinkHeader, Vec<u8>)> {
    let datagram = engine
        .poll_transmit()
        .expect("a datagram to write")
        .to_vec();
    assert!(
        engine.poll_transmit().is_none(),
        "each datagram is given once"
    );
    messages(&datagram)
        .map(|m| m.map(|(h, p)| (h, p.to_vec())).unwrap())
        .collect()
}

/// nlctrl's answer to GETFAMILY: the family, then the ACK.
fn family_reply(seq: u32, id: u16) -> Vec<u8> {
    let mut d = Vec::new();
    // genlmsghdr (CTRL_CMD_NEWFAMILY), FAMILY_ID (u16, padded), FAMILY_NAME.
    let mut p = vec![1, 2, 0, 0];
    p.extend_from_slice(&6u16.to_ne_bytes());
    p.extend_from_slice(&1u16.to_ne_bytes());
    p.extend_from_slice(&id.to_ne_bytes());
    p.extend_from_slice(&[0, 0]);
    p.extend_from_slice(&9u16.to_ne_bytes());
    p.extend_from_slice(&2u16.to_ne_bytes());
    p.extend_from_slice(b"IPVS\0\0\0\0");
    push_message(&mut d, GENL_ID_CTRL, 0, seq, p.len(), |b| {
        b.copy_from_slice(&p)
    });
    ack(&mut d, seq);
    d
}

fn ack(d: &mut Vec<u8>, seq: u32) {
    error(d, seq, 0, None);
}

/// `NLMSG_ERROR` as with NETLINK_CAP_ACK: code, the request's header, and
/// the extended-ACK message if any.
fn error(d: &mut Vec<u8>, seq: u32, errno: i32, text: Option<&str>) {
    let mut p = (-errno).to_ne_bytes().to_vec();
    p.extend_from_slice(&[0; 16]);
    let mut flags = NLM_F_CAPPED;
    if let Some(text) = text {
        flags |= NLM_F_ACK_TLVS;
        let len = 4 + text.len() + 1;
        p.extend_from_slice(&(len as u16).to_ne_bytes());
        p.extend_from_slice(&1u16.to_ne_bytes());
        p.extend_from_slice(text.as_bytes());
        p.push(0);
        while p.len() % 4 != 0 {
            p.push(0);
        }
    }
    push_message(d, NLMSG_ERROR, flags, seq, p.len(), |b| {
        b.copy_from_slice(&p)
    });
}

fn done(d: &mut Vec<u8>, seq: u32, flags: u16) {
    push_message(d, NLMSG_DONE, NLM_F_MULTIPART | flags, seq, 4, |_| {});
}

/// A dumped service, as an IPVS message of `family`.
fn entry(d: &mut Vec<u8>, family: u16, seq: u32, port: u16, flags: u16) {
    let svc = Service::new(key(port), Scheduler::RoundRobin);
    let mut msg = IpvsMessage::new_service(&svc);
    msg.command = Command::NEW_SERVICE;
    let ipvs = Ipvs;
    push_message(
        d,
        family,
        NLM_F_MULTIPART | flags,
        seq,
        ipvs.payload_len(&msg),
        |b| ipvs.emit_payload(&msg, b),
    );
}

fn key(port: u16) -> ServiceKey {
    ServiceKey::tcp(format!("192.0.2.10:{port}").parse().unwrap())
}

fn ports(replies: &[IpvsMessage]) -> Vec<u16> {
    replies
        .iter()
        .map(|m| m.service().unwrap().unwrap().key.port().unwrap())
        .collect()
}

/// An engine whose family is resolved to `IPVS_ID`.
fn resolved(limits: Limits) -> Engine<Ipvs> {
    let mut e = Engine::new(Ipvs, limits);
    e.start(Job::Resolve);
    let req = sent(&mut e);
    assert_eq!(req.len(), 1);
    assert_eq!(req[0].0.message_type, GENL_ID_CTRL);
    assert_eq!(req[0].0.flags, NLM_F_REQUEST | NLM_F_ACK);
    e.handle_datagram(&family_reply(req[0].0.sequence_number, IPVS_ID));
    assert!(e.poll_answer().unwrap().is_ok());
    assert_eq!(e.family(), IPVS_ID);
    e
}

#[test]
fn the_family_is_resolved_before_the_first_request() {
    let mut e = Engine::new(Ipvs, Limits::default());
    e.start(Job::Requests(vec![IpvsMessage::flush()]));
    let req = sent(&mut e);
    assert_eq!(req[0].0.message_type, GENL_ID_CTRL);
    // The name asked for, NUL-terminated, in CTRL_ATTR_FAMILY_NAME.
    assert_eq!(&req[0].1[8..13], b"IPVS\0");
    e.handle_datagram(&family_reply(req[0].0.sequence_number, IPVS_ID));
    let req = sent(&mut e);
    assert_eq!(req[0].0.message_type, IPVS_ID);
    assert_eq!(req[0].1[0], Command::FLUSH.0);
}

#[test]
fn a_missing_family_is_said_plainly() {
    let mut e = Engine::new(Ipvs, Limits::default());
    e.start(Job::Resolve);
    let seq = sent(&mut e)[0].0.sequence_number;
    let mut d = Vec::new();
    error(&mut d, seq, libc::ENOENT, None);
    e.handle_datagram(&d);
    assert_eq!(
        e.poll_answer().unwrap(),
        Err(Error::FamilyNotFound("IPVS".into()))
    );
}

#[test]
fn a_request_is_answered_only_on_failure_and_ends_with_an_acknowledged_noop() {
    let mut e = resolved(Limits::default());
    e.start(Job::Requests(vec![IpvsMessage::get_info()]));
    let req = sent(&mut e);
    assert_eq!(req.len(), 2);
    assert_eq!(req[0].0.flags, NLM_F_REQUEST, "no ACK asked of the request");
    assert_eq!(req[1].0.message_type, NLMSG_NOOP);
    assert_eq!(req[1].0.flags, NLM_F_REQUEST | NLM_F_ACK);
    let (seq, noop) = (req[0].0.sequence_number, req[1].0.sequence_number);
    assert_eq!(noop, seq + 1);
    // The GET's reply, then the no-op's ACK.
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, seq, 80, 0);
    assert!(e.is_waiting());
    e.handle_datagram(&d);
    assert!(e.poll_answer().is_none(), "not over before the no-op's ACK");
    let mut d = Vec::new();
    ack(&mut d, noop);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(answer.results.len(), 1);
    assert_eq!(ports(answer.results[0].as_ref().unwrap()), [80]);
}

#[test]
fn del_daemon_eintr_without_an_ack_still_ends() {
    // netlink sends nothing at all for a handler returning EINTR: DEL_DAEMON
    // stopping a sync thread that never ran. The no-op's ACK ends it.
    let mut e = resolved(Limits::default());
    e.start(Job::Requests(vec![IpvsMessage::del_daemon(
        DaemonState::Master,
    )]));
    let req = sent(&mut e);
    let mut d = Vec::new();
    ack(&mut d, req[1].0.sequence_number);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(answer.results, vec![Ok(vec![])]);
}

#[test]
fn refusals_carry_the_extended_ack_text() {
    let mut e = resolved(Limits::default());
    e.start(Job::Requests(vec![IpvsMessage::flush()]));
    let req = sent(&mut e);
    let mut d = Vec::new();
    error(
        &mut d,
        req[0].0.sequence_number,
        libc::EINVAL,
        Some("Invalid scheduler"),
    );
    ack(&mut d, req[1].0.sequence_number);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    let refusal = answer.results[0].as_ref().unwrap_err();
    assert_eq!(refusal.errno, libc::EINVAL);
    assert_eq!(refusal.message.as_deref(), Some("Invalid scheduler"));
}

#[test]
fn a_batch_goes_in_datagrams_within_the_limits_with_failures_in_the_middle() {
    let limits = Limits {
        requests: 4,
        bytes: 1 << 20,
    };
    let mut e = resolved(limits);
    let requests: Vec<_> = (0..10).map(|p| IpvsMessage::del_service(&key(p))).collect();
    e.start(Job::Requests(requests));
    let mut writes = 0;
    while e.is_waiting() {
        let req = sent(&mut e);
        writes += 1;
        assert!(req.len() <= 5, "4 requests and the no-op");
        let mut d = Vec::new();
        for (h, p) in &req[..req.len() - 1] {
            assert_eq!(h.flags, NLM_F_REQUEST);
            // Services 2 and 5 are missing.
            let port = IpvsMessage::parse(Command(p[0]), &p[4..])
                .unwrap()
                .service()
                .unwrap()
                .unwrap()
                .key
                .port()
                .unwrap();
            if port == 2 || port == 5 {
                error(&mut d, h.sequence_number, libc::ESRCH, None);
            }
        }
        ack(&mut d, req.last().unwrap().0.sequence_number);
        e.handle_datagram(&d);
    }
    assert_eq!(writes, 3);
    let answer = e.poll_answer().unwrap().unwrap();
    let failed: Vec<_> = answer
        .results
        .iter()
        .enumerate()
        .filter(|(_, r)| r.is_err())
        .map(|(i, r)| (i, r.as_ref().unwrap_err().errno))
        .collect();
    assert_eq!(failed, [(2, libc::ESRCH), (5, libc::ESRCH)]);
    assert_eq!(answer.results.len(), 10);
}

#[test]
fn a_batch_splits_by_bytes_too() {
    let one = Ipvs.wire_len(&IpvsMessage::del_service(&key(1)));
    let mut e = resolved(Limits {
        requests: 100,
        bytes: 3 * one,
    });
    let requests: Vec<_> = (0..7).map(|p| IpvsMessage::del_service(&key(p))).collect();
    e.start(Job::Requests(requests));
    let mut sizes = Vec::new();
    while e.is_waiting() {
        let req = sent(&mut e);
        sizes.push(req.len() - 1);
        let mut d = Vec::new();
        ack(&mut d, req.last().unwrap().0.sequence_number);
        e.handle_datagram(&d);
    }
    assert_eq!(sizes, [3, 3, 1]);
}

/// Every datagram a batch job writes, each answered with the ACK of its
/// no-op (and ESRCH for the requests at `refused`), and the answer.
fn run_batch(
    limits: Limits,
    job: Job<IpvsMessage>,
    refused: &[usize],
) -> (Vec<Vec<u8>>, Answer<IpvsMessage>) {
    let mut e = resolved(limits);
    e.start(job);
    let mut datagrams = Vec::new();
    let mut index = 0;
    while e.is_waiting() {
        let datagram = e.poll_transmit().expect("a datagram").to_vec();
        let req: Vec<_> = messages(&datagram).map(Result::unwrap).collect();
        let mut d = Vec::new();
        for (h, _) in &req[..req.len() - 1] {
            if refused.contains(&index) {
                error(&mut d, h.sequence_number, libc::ESRCH, None);
            }
            index += 1;
        }
        ack(&mut d, req.last().unwrap().0.sequence_number);
        datagrams.push(datagram);
        e.handle_datagram(&d);
    }
    (datagrams, e.poll_answer().unwrap().unwrap())
}

#[test]
fn encoded_requests_go_as_the_same_datagrams() {
    let requests: Vec<_> = (0..9)
        .map(|p| match p % 3 {
            0 => IpvsMessage::del_service(&key(p)),
            1 => IpvsMessage::new_service(&Service::new(key(p), Scheduler::RoundRobin)),
            _ => IpvsMessage::get_info(),
        })
        .collect();
    let mut payloads = Payloads::default();
    for r in &requests {
        payloads.push(|buf| {
            let at = buf.len();
            buf.resize(at + Ipvs.payload_len(r), 0);
            Ipvs.emit_payload(r, &mut buf[at..]);
        });
    }
    let one = Ipvs.wire_len(&requests[1]);
    for limits in [
        Limits::default(),
        Limits {
            requests: 2,
            bytes: 1 << 20,
        },
        Limits {
            requests: 100,
            bytes: 2 * one,
        },
    ] {
        let values = run_batch(limits, Job::Requests(requests.clone()), &[4, 7]);
        let encoded = run_batch(limits, Job::Encoded(payloads.clone()), &[4, 7]);
        assert_eq!(values, encoded, "{limits:?}");
        assert!(values.0.len() > 1 || limits == Limits::default());
        let failed: Vec<_> = encoded
            .1
            .results
            .iter()
            .enumerate()
            .filter_map(|(i, r)| r.is_err().then_some(i))
            .collect();
        assert_eq!(failed, [4, 7]);
    }
}

#[test]
fn an_empty_encoded_batch_sends_nothing() {
    let mut e = Engine::new(Ipvs, Limits::default());
    e.start(Job::Encoded(Payloads::default()));
    assert!(e.poll_transmit().is_none());
    assert_eq!(e.poll_answer().unwrap().unwrap().results, vec![]);
}

#[test]
fn an_abandoned_batch_reports_the_datagrams_answered_whole() {
    let mut e = resolved(Limits {
        requests: 2,
        bytes: 1 << 20,
    });
    let requests: Vec<_> = (0..5).map(|p| IpvsMessage::del_service(&key(p))).collect();
    e.start(Job::Requests(requests));
    let req = sent(&mut e);
    let mut d = Vec::new();
    error(&mut d, req[1].0.sequence_number, libc::ESRCH, None);
    ack(&mut d, req[2].0.sequence_number);
    e.handle_datagram(&d);
    let _second = sent(&mut e);
    // The socket fails now: two settled, the rest unknown.
    let settled = e.abort();
    assert_eq!(settled.len(), 2);
    assert!(settled[0].is_ok() && settled[1].is_err());
    assert!(!e.is_waiting());
}

#[test]
fn a_dump_spans_datagrams_and_skips_late_replies() {
    let mut e = resolved(Limits::default());
    e.start(Job::Dump(IpvsMessage::get_services()));
    let req = sent(&mut e);
    assert_eq!(req.len(), 1, "a dump needs no no-op: DONE ends it");
    assert_eq!(req[0].0.flags, NLM_F_REQUEST | NLM_F_DUMP);
    let seq = req[0].0.sequence_number;
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, seq.wrapping_sub(7), 9, 0); // a late reply to something older
    entry(&mut d, IPVS_ID, seq, 1, 0);
    entry(&mut d, IPVS_ID, seq, 2, 0);
    e.handle_datagram(&d);
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, seq, 3, 0);
    e.handle_datagram(&d);
    assert!(e.poll_answer().is_none());
    let mut d = Vec::new();
    done(&mut d, seq, 0);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(ports(answer.results[0].as_ref().unwrap()), [1, 2, 3]);
    assert_eq!((answer.duplicates, answer.attempts), (0, 1));
}

#[test]
fn entries_listed_twice_are_dropped_and_counted() {
    let mut e = resolved(Limits::default());
    e.start(Job::Dump(IpvsMessage::get_services()));
    let seq = sent(&mut e)[0].0.sequence_number;
    let mut d = Vec::new();
    for port in [1, 2, 2, 3, 1] {
        entry(&mut d, IPVS_ID, seq, port, 0);
    }
    done(&mut d, seq, 0);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(ports(answer.results[0].as_ref().unwrap()), [1, 2, 3]);
    assert_eq!(answer.duplicates, 2);
}

#[test]
fn an_interrupted_dump_is_sent_again() {
    let mut e = resolved(Limits::default());
    e.start(Job::Dump(IpvsMessage::get_services()));
    let first = sent(&mut e)[0].0.sequence_number;
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, first, 1, 0);
    entry(&mut d, IPVS_ID, first, 2, NLM_F_DUMP_INTR);
    done(&mut d, first, NLM_F_DUMP_INTR);
    e.handle_datagram(&d);
    assert!(e.poll_answer().is_none());
    let second = sent(&mut e)[0].0.sequence_number;
    assert_ne!(first, second);
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, second, 1, 0);
    entry(&mut d, IPVS_ID, second, 3, 0);
    done(&mut d, second, 0);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(ports(answer.results[0].as_ref().unwrap()), [1, 3]);
    assert_eq!(answer.attempts, 2);
}

#[test]
fn a_dump_interrupted_every_time_gives_up_after_the_attempts() {
    let mut e = resolved(Limits::default());
    e.set_dump_attempts(3);
    e.start(Job::Dump(IpvsMessage::get_services()));
    for _ in 0..3 {
        let seq = sent(&mut e)[0].0.sequence_number;
        let mut d = Vec::new();
        done(&mut d, seq, NLM_F_DUMP_INTR);
        e.handle_datagram(&d);
    }
    assert_eq!(
        e.poll_answer().unwrap(),
        Err(Error::DumpInterrupted { attempts: 3 })
    );
}

#[test]
fn a_stale_family_is_resolved_again_and_the_requests_resent() {
    // ip_vs was reloaded: its family has a new id, the old one is unknown
    // (genetlink answers ENOENT to every request).
    let mut e = resolved(Limits::default());
    e.start(Job::Requests(vec![
        IpvsMessage::flush(),
        IpvsMessage::flush(),
    ]));
    let req = sent(&mut e);
    let mut d = Vec::new();
    error(&mut d, req[0].0.sequence_number, libc::ENOENT, None);
    error(&mut d, req[1].0.sequence_number, libc::ENOENT, None);
    ack(&mut d, req[2].0.sequence_number);
    e.handle_datagram(&d);
    let lookup = sent(&mut e);
    assert_eq!(lookup[0].0.message_type, GENL_ID_CTRL);
    e.handle_datagram(&family_reply(lookup[0].0.sequence_number, 0x26));
    let again = sent(&mut e);
    assert_eq!(again.len(), 3);
    assert!(again[..2].iter().all(|(h, _)| h.message_type == 0x26));
    let mut d = Vec::new();
    ack(&mut d, again[2].0.sequence_number);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(answer.results, vec![Ok(vec![]), Ok(vec![])]);
    assert_eq!(e.family(), 0x26);
}

#[test]
fn an_enoent_of_a_known_family_is_the_requests_own() {
    // DEL_DEST of a missing destination: ENOENT, and the family is fine.
    let mut e = resolved(Limits::default());
    e.start(Job::Requests(vec![IpvsMessage::flush()]));
    let req = sent(&mut e);
    let mut d = Vec::new();
    error(&mut d, req[0].0.sequence_number, libc::ENOENT, None);
    ack(&mut d, req[1].0.sequence_number);
    e.handle_datagram(&d);
    let lookup = sent(&mut e);
    e.handle_datagram(&family_reply(lookup[0].0.sequence_number, IPVS_ID));
    assert!(e.poll_transmit().is_none(), "nothing resent");
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(answer.results[0].as_ref().unwrap_err().errno, libc::ENOENT);
}

#[test]
fn a_dump_on_a_stale_family_is_resent_after_resolving() {
    let mut e = resolved(Limits::default());
    e.start(Job::Dump(IpvsMessage::get_services()));
    let seq = sent(&mut e)[0].0.sequence_number;
    let mut d = Vec::new();
    error(&mut d, seq, libc::ENOENT, None);
    e.handle_datagram(&d);
    let lookup = sent(&mut e);
    e.handle_datagram(&family_reply(lookup[0].0.sequence_number, 0x30));
    let again = sent(&mut e);
    assert_eq!(again[0].0.message_type, 0x30);
    let seq = again[0].0.sequence_number;
    let mut d = Vec::new();
    entry(&mut d, 0x30, seq, 7, 0);
    done(&mut d, seq, 0);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(ports(answer.results[0].as_ref().unwrap()), [7]);
}

#[test]
fn a_malformed_datagram_fails_the_job() {
    let mut e = resolved(Limits::default());
    e.start(Job::Dump(IpvsMessage::get_services()));
    let _ = sent(&mut e);
    e.handle_datagram(&[1, 2, 3]);
    assert!(matches!(e.poll_answer(), Some(Err(Error::Decode(_)))));
}

#[test]
fn a_chunk_never_wraps_its_sequence_numbers() {
    // Replies are matched to requests by their distance from the chunk's
    // first sequence number: a chunk that would wrap starts over at 1.
    let mut e = resolved(Limits::default());
    e.seq = u32::MAX - 2;
    e.start(Job::Requests(vec![
        IpvsMessage::flush(),
        IpvsMessage::flush(),
        IpvsMessage::flush(),
    ]));
    let req = sent(&mut e);
    let seqs: Vec<_> = req.iter().map(|(h, _)| h.sequence_number).collect();
    assert_eq!(seqs, [1, 2, 3, 4]);
    let mut d = Vec::new();
    error(&mut d, 3, libc::EINVAL, None);
    ack(&mut d, 4);
    e.handle_datagram(&d);
    let answer = e.poll_answer().unwrap().unwrap();
    assert!(answer.results[0].is_ok() && answer.results[1].is_ok());
    assert_eq!(answer.results[2].as_ref().unwrap_err().errno, libc::EINVAL);
}

#[test]
fn sequence_numbers_skip_zero() {
    let mut e = resolved(Limits::default());
    e.seq = u32::MAX;
    e.start(Job::Dump(IpvsMessage::get_services()));
    assert_eq!(sent(&mut e)[0].0.sequence_number, 1);
}

#[test]
fn a_streamed_dump_hands_entries_out_as_read_and_says_when_it_starts_over() {
    let mut e = resolved(Limits::default());
    e.start(Job::Stream(IpvsMessage::get_services()));
    let req = sent(&mut e);
    assert_eq!(req[0].0.flags, NLM_F_REQUEST | NLM_F_DUMP);
    let first = req[0].0.sequence_number;
    let mut seen: Vec<String> = Vec::new();
    let mut sink = |s: Streamed<'_>| {
        seen.push(match s {
            Streamed::Entry(p) => {
                let msg = IpvsMessage::parse(Command(p[0]), &p[GENL_HDRLEN..]).unwrap();
                msg.service()
                    .unwrap()
                    .unwrap()
                    .key
                    .port()
                    .unwrap()
                    .to_string()
            }
            Streamed::Restart => "restart".into(),
        });
        Ok(())
    };
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, first.wrapping_sub(3), 9, 0); // late, skipped
    entry(&mut d, IPVS_ID, first, 1, 0);
    entry(&mut d, 0x99, first, 8, 0); // not IPVS's: not an entry
    entry(&mut d, IPVS_ID, first, 1, NLM_F_DUMP_INTR); // listed twice: kept
    done(&mut d, first, NLM_F_DUMP_INTR);
    e.handle_datagram_with(&d, &mut sink);
    assert!(e.poll_answer().is_none());
    let second = sent(&mut e)[0].0.sequence_number;
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, second, 2, 0);
    done(&mut d, second, 0);
    e.handle_datagram_with(&d, &mut sink);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!(answer.results, vec![], "nothing kept");
    assert_eq!(answer.attempts, 2);
    assert_eq!(seen, ["1", "1", "restart", "2"]);
}

#[test]
fn a_sink_that_cannot_read_an_entry_fails_the_streamed_dump() {
    let mut e = resolved(Limits::default());
    e.start(Job::Stream(IpvsMessage::get_services()));
    let seq = sent(&mut e)[0].0.sequence_number;
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, seq, 1, 0);
    e.handle_datagram_with(&d, &mut |_| Err("unreadable".into()));
    let err = e.poll_answer().unwrap().unwrap_err();
    assert_eq!(err, Error::Decode("unreadable".into()));
}

#[test]
fn an_encoded_stream_sends_its_payload_as_a_dump_and_sends_it_again_when_interrupted() {
    let mut e = resolved(Limits::default());
    let msg = IpvsMessage::get_services();
    let mut payload = vec![0; Ipvs.payload_len(&msg)];
    Ipvs.emit_payload(&msg, &mut payload);
    e.start(Job::StreamEncoded(payload.clone()));
    let req = sent(&mut e);
    assert_eq!(req.len(), 1);
    assert_eq!(req[0].0.message_type, IPVS_ID);
    assert_eq!(req[0].0.flags, NLM_F_REQUEST | NLM_F_DUMP);
    assert_eq!(req[0].1, payload);
    let first = req[0].0.sequence_number;
    let mut entries = 0;
    let mut restarts = 0;
    let mut sink = |s: Streamed<'_>| {
        match s {
            Streamed::Entry(_) => entries += 1,
            Streamed::Restart => restarts += 1,
        }
        Ok(())
    };
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, first, 1, NLM_F_DUMP_INTR);
    done(&mut d, first, NLM_F_DUMP_INTR);
    e.handle_datagram_with(&d, &mut sink);
    let again = sent(&mut e);
    assert_eq!(
        (&again[0].1, again[0].0.flags),
        (&payload, NLM_F_REQUEST | NLM_F_DUMP)
    );
    let mut d = Vec::new();
    entry(&mut d, IPVS_ID, again[0].0.sequence_number, 1, 0);
    done(&mut d, again[0].0.sequence_number, 0);
    e.handle_datagram_with(&d, &mut sink);
    let answer = e.poll_answer().unwrap().unwrap();
    assert_eq!((answer.results, answer.attempts), (vec![], 2));
    assert_eq!((entries, restarts), (2, 1));
}
