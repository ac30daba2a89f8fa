//! Friendly generated names for members who did not choose one.

use sha2::{Digest, Sha256};
use syncshell_identity::PeerId;

const ADJECTIVES: [&str; 64] = [
    "Amber", "Ancient", "Autumn", "Bold", "Brave", "Bright", "Calm", "Clever", "Cosmic", "Crimson",
    "Crystal", "Curious", "Dapper", "Dawn", "Desert", "Dusky", "Eager", "Electric", "Emerald",
    "Fancy", "Fearless", "Fierce", "Frosty", "Gentle", "Gilded", "Glowing", "Golden", "Grand",
    "Happy", "Hidden", "Humble", "Icy", "Jolly", "Keen", "Lively", "Lucky", "Lunar", "Mellow",
    "Merry", "Misty", "Mossy", "Nimble", "Noble", "Oaken", "Quiet", "Rapid", "Rustic", "Scarlet",
    "Shiny", "Silent", "Silver", "Sleepy", "Snowy", "Solar", "Spry", "Stormy", "Sunny", "Swift",
    "Tidy", "Twilight", "Velvet", "Vivid", "Wild", "Witty",
];

const ANIMALS: [&str; 64] = [
    "Badger", "Bat", "Bear", "Beaver", "Bison", "Bobcat", "Camel", "Cat", "Chocobo", "Cobra",
    "Condor", "Coyote", "Crane", "Crow", "Deer", "Dingo", "Dolphin", "Dragon", "Eagle", "Falcon",
    "Ferret", "Finch", "Fox", "Frog", "Gecko", "Goat", "Goose", "Griffin", "Hare", "Hawk", "Heron",
    "Ibex", "Jackal", "Koala", "Lemur", "Lion", "Llama", "Lynx", "Magpie", "Marmot", "Mole",
    "Moose", "Newt", "Otter", "Owl", "Panda", "Parrot", "Puffin", "Quail", "Rabbit", "Raven",
    "Robin", "Salmon", "Seal", "Shark", "Sparrow", "Stag", "Swan", "Tiger", "Toad", "Turtle",
    "Viper", "Walrus", "Wolf",
];

/// A friendly, stable name for `peer`, such as `Swift-Otter-42`: the same peer always gets the
/// same name, on every replica. Names can collide (409 600 of them); show the peer id where it
/// matters.
pub fn friendly_name(peer: &PeerId) -> String {
    let mut h = Sha256::new();
    h.update(b"syncshell/v1/friendly-name\0");
    h.update(peer.as_bytes());
    let d = h.finalize();
    let pick = |i: usize| d.get(i).copied().map_or(0, usize::from);
    let adjective = ADJECTIVES.get(pick(0) % 64).copied().unwrap_or("Quiet");
    let animal = ANIMALS.get(pick(1) % 64).copied().unwrap_or("Otter");
    let number = (pick(2) << 8 | pick(3)) % 100;
    format!("{adjective}-{animal}-{number:02}")
}
