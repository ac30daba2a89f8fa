#![doc = "Shared code of the syncshell example programs: the signaling protocol, server and client \
(`syncshell-signal`), and the glue that runs the handshake, phonebook sync and folder transfers \
over a transport connection."]

pub mod netlab;
pub mod setup;
pub mod signal;
pub mod wire;
