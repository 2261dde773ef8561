use clap::Parser as _;

/// mimalloc instead of the system allocator: memory freed when a flood's pending logins expire
/// goes back to the system (glibc's malloc kept ~130 MB of a 147 MB peak), and small
/// allocations on the request path are cheaper.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    vneid_gateway::cli::main(vneid_gateway::cli::Cli::parse())
}
