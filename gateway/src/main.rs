use clap::Parser as _;

fn main() -> std::process::ExitCode {
    vneid_gateway::cli::main(vneid_gateway::cli::Cli::parse())
}
