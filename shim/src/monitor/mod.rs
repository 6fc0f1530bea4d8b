//! The standalone monitor (conmon's role): detach, create and start the
//! container through the runtime, keep its stdio, write CRI logs, serve
//! attach, record the exit.
