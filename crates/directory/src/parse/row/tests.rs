use super::*;

#[test]
fn usernames_with_the_same_hash_are_told_apart() {
    let mut seen = Usernames::with_capacity(0);
    assert_eq!(seen.first_line("alice", 2), None);
    // Fake a collision: the table says mallory's hash belongs to alice.
    let alice = seen.by_hash[&seen.hasher.hash_one("alice")];
    let mallory = seen.hasher.hash_one("mallory");
    seen.by_hash.insert(mallory, alice);
    assert_eq!(seen.first_line("Mallory", 9), None);
    assert_eq!(seen.overflow.len(), 1);
    assert_eq!(seen.first_line("MALLORY", 10), Some(9));
    assert_eq!(seen.first_line("ALICE", 11), Some(2));
    assert_eq!(seen.first_line("bob", 12), None);
    assert_eq!(seen.first_line("Bob", 13), Some(12));
    assert_eq!(seen.folded, "alicemallorybob");
}
