#![doc = "Shared code of the syncshell example programs: the glue that runs the handshake, \
phonebook sync and folder transfers over a transport connection, and the network lab."]

pub mod args;
pub mod netlab;
pub mod setup;
pub mod time;
pub mod wire;
