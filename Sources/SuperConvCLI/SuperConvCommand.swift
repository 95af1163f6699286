import ArgumentParser
import CSuperConv

@main
struct SuperConvCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "superconv",
        abstract: "Super-convergence training of residual networks (Smith & Topin 2017) with libsuperconv.",
        discussion: """
            Progress goes to stderr: a live bar on a terminal, a plain line every --log-every steps \
            otherwise. Ctrl-C stops after the current step; train then saves a checkpoint and prints \
            the command that resumes it. A second Ctrl-C exits at once.

            Exit codes: 0 success; 1 training diverged (a non-finite loss); 64 a bad flag or value; \
            65 a file's content is wrong; 70 internal error; 71 out of memory; 73 a folder cannot be \
            made; 74 a file cannot be read or written; 130 interrupted.
            """,
        version: String(cString: sc_version()),
        subcommands: [Train.self, RangeTestCommand.self, Evaluate.self, EstimateLR.self, Info.self]
    )

    /// No subcommand is a usage error: the help goes to stderr and the exit code is 64.
    func run() throws {
        ProgressDisplay.write(Self.helpMessage() + "\n")
        throw ExitCode(64)
    }
}

/// Runs a command's body with Ctrl-C watched, turning failures into one line on stderr and
/// the exit code of their class.
func runCommand(_ common: CommonOptions, catchingSignals: Bool = true, _ body: () throws -> Void) throws {
    if catchingSignals { InterruptWatcher.install() }
    do {
        try common.apply()
        try body()
    } catch {
        guard let (message, code) = failure(error) else { throw error }
        ProgressDisplay.write("Error: \(message)\n")
        throw ExitCode(code)
    }
}

/// The message and exit code of a failure the commands report themselves (nil: another error,
/// left to ArgumentParser).
func failure(_ error: Error) -> (message: String, code: Int32)? {
    switch error {
    case let error as LibraryError: return (error.message, error.exitCode)
    case let error as CommandFailure: return (error.description, error.exitCode)
    default: return nil
    }
}
