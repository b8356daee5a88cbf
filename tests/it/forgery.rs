//! Forgery drill: a million random codes and a million mutations of real ones, none
//! accepted; and the gateway answers every forgery with the same bytes as a validly
//! signed code of a batch that was never registered, so an attacker learns nothing
//! from the answer.

use crate::support::*;
use yima_gateway::{Clock, INVALID_CODE_BODY};

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// SplitMix64: a fixed-seed stream, so a failure names codes that can be reproduced.
struct Stream(u64);

impl Stream {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % u64::try_from(n).expect("n")).expect("below n")
    }

    fn random_code(&mut self) -> String {
        (0..yima_code::CODE_LEN)
            .map(|_| char::from(ALPHABET[self.below(ALPHABET.len())]))
            .collect()
    }

    /// One character replaced by another, or two neighbours swapped (typos and
    /// deliberate edits alike).
    fn mutate(&mut self, code: &str) -> String {
        let mut bytes = code.as_bytes().to_vec();
        let at = self.below(bytes.len());
        if self.next().is_multiple_of(2) && at + 1 < bytes.len() && bytes[at] != bytes[at + 1] {
            bytes.swap(at, at + 1);
        } else {
            let mut other = bytes[at];
            while other == bytes[at] {
                other = ALPHABET[self.below(ALPHABET.len())];
            }
            bytes[at] = other;
        }
        String::from_utf8(bytes).expect("ascii")
    }
}

#[test]
fn a_million_random_and_a_million_mutated_codes_are_all_rejected() {
    let ring = key_ring();
    let signer = ring.signing_key();
    let mut stream = Stream(0x5eed);
    let mut accepted = Vec::new();
    for _ in 0..1_000_000 {
        let code = stream.random_code();
        if ring.verify(&code).is_ok() {
            accepted.push(code);
        }
    }
    // Mutations of real codes of many batches and serials.
    for i in 0..1_000_000u32 {
        let real = signer.sign(1 + i % 997, i).to_string();
        let forged = stream.mutate(&real);
        assert_ne!(forged, real);
        if ring.verify(&forged).is_ok() {
            accepted.push(forged);
        }
    }
    assert!(accepted.is_empty(), "accepted forgeries: {accepted:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_forgery_gets_the_answer_of_an_unregistered_batch_byte_for_byte() {
    let gateway = TestGateway::start(&campaign(30, "", ""), Clock::fixed(june_first())).await;
    let (batch, codes) = gateway.batch(1000, None).await;
    // The reference: correctly signed, but for a batch nobody registered.
    let unregistered = key_ring().signing_key().sign(batch + 1000, 0).to_string();
    let answer = |code: String| {
        let request = gateway
            .http
            .post(format!("{}/v1/scan", gateway.base))
            .bearer_auth(SERVICE_TOKEN)
            .body(serde_json::json!({"code": code, "member": "forger"}).to_string());
        async move {
            let response = request.send().await.expect("request");
            let status = response.status().as_u16();
            let kind = response.headers().get("content-type").cloned();
            (code, status, kind, response.text().await.expect("body"))
        }
    };
    let (_, status, kind, body) = answer(unregistered).await;
    assert_eq!((status, body.as_str()), (404, INVALID_CODE_BODY));
    let reference = (status, kind, body);

    let mut stream = Stream(0xf0e1);
    let mut forgeries: Vec<String> = (0..2_000).map(|_| stream.random_code()).collect();
    forgeries.extend((0..2_000).map(|i| stream.mutate(&codes[i % codes.len()])));
    for chunk in forgeries.chunks(100) {
        let mut tasks = tokio::task::JoinSet::new();
        for code in chunk {
            tasks.spawn(answer(code.clone()));
        }
        while let Some(done) = tasks.join_next().await {
            let (code, status, kind, body) = done.expect("task");
            assert_eq!((status, kind, body), reference, "{code}");
        }
    }
    // Nothing was redeemed: the real codes still scan.
    assert_eq!(
        json(&gateway.scan(&codes[0], "painter", "consumer").await.1)["status"],
        "no_prize"
    );
}
