//! Arbitrary bytes as a received datagram: decoding never panics, every
//! accessor copes with whatever decoded, and every decoded IPVS message is a
//! fixed point of encode-then-decode.
#![no_main]

use ipvs::codec::{Reply, RequestKind, decode, encode_request};
use ipvs::{AddressFamily, ServiceKey};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    for family in [None, Some(0x25)] {
        for frame in decode(data, family) {
            // The iterator ends after the first error.
            let Ok(frame) = frame else { continue };
            let _ = frame.interrupted();
            let _ = frame.multipart();
            let Reply::Ipvs(msg) = &frame.reply else {
                continue;
            };

            let service = msg.service();
            let dest = msg.destination(AddressFamily::Ipv4);
            let _ = msg.destination(AddressFamily::Ipv6);
            let _ = msg.daemon();
            let _ = msg.info();
            let _ = msg.timeouts();
            let _ = msg.command.to_string();

            // Re-encode, re-decode: the same message.
            let mut buf = Vec::new();
            let n = encode_request(
                msg,
                frame.header.message_type,
                frame.header.sequence_number,
                RequestKind::Ack,
                &mut buf,
            );
            assert_eq!(n, buf.len());
            let mut again = decode(&buf, family);
            let back = again
                .next()
                .expect("a message")
                .unwrap_or_else(|e| panic!("re-encoding of {msg:?} does not decode: {e}"));
            assert!(again.next().is_none(), "one message re-encodes as one");
            assert_eq!(&back.reply, &frame.reply);

            // A valid service read from it re-encodes to itself.
            if let Ok(Some(svc)) = service {
                let svc = svc.config();
                if svc.validate().is_ok() {
                    let req = ipvs::codec::IpvsMessage::new_service(&svc);
                    let mut b = Vec::new();
                    encode_request(&req, 0x25, 1, RequestKind::Ack, &mut b);
                    let f = decode(&b, Some(0x25)).next().unwrap().unwrap();
                    let Reply::Ipvs(m) = f.reply else {
                        panic!("not IPVS")
                    };
                    assert_eq!(m.service().unwrap(), Some(svc));
                }
            }
            // So does a valid destination.
            if let Ok(Some(d)) = dest {
                let d = d.config();
                let key = ServiceKey::Fwmark {
                    fwmark: 1,
                    family: AddressFamily::of(&d.address),
                };
                if d.validate(&key).is_ok() {
                    let req = ipvs::codec::IpvsMessage::new_dest(&key, &d);
                    let mut b = Vec::new();
                    encode_request(&req, 0x25, 1, RequestKind::Ack, &mut b);
                    let f = decode(&b, Some(0x25)).next().unwrap().unwrap();
                    let Reply::Ipvs(m) = f.reply else {
                        panic!("not IPVS")
                    };
                    assert_eq!(m.destination(key.family()).unwrap(), Some(d));
                }
            }
        }
    }
});
