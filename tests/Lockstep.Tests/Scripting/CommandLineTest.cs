using Lockstep.Cli;

namespace Lockstep.Tests.Scripting;

/// <summary>Tests that swap Console.Out and Console.Error: they run alone, with no other test writing to the console.</summary>
[CollectionDefinition(nameof(ConsoleCapture), DisableParallelization = true)]
public sealed class ConsoleCapture;

/// <summary>
/// What the tests that run lockstep's commands on user files share: a temporary directory, a script cache of their own
/// in it ($LOCKSTEP_CACHE), and a run of a command with its output captured.
/// </summary>
[Collection(nameof(ConsoleCapture))]
public abstract class CommandLineTest : IDisposable
{
    protected readonly string _directory = Directory.CreateTempSubdirectory("lockstep-cli-").FullName;
    private readonly string? _cache = Environment.GetEnvironmentVariable("LOCKSTEP_CACHE");

    protected CommandLineTest() => Environment.SetEnvironmentVariable("LOCKSTEP_CACHE", Path.Combine(_directory, "cache"));

    public void Dispose() => Environment.SetEnvironmentVariable("LOCKSTEP_CACHE", _cache);

    protected static (int Exit, string Out, string Error) Run(params string[] args)
    {
        var (stdout, stderr) = (Console.Out, Console.Error);
        var (output, error) = (new StringWriter(), new StringWriter());
        Console.SetOut(output);
        Console.SetError(error);
        try { return (Program.Main(args), output.ToString(), error.ToString()); }
        finally
        {
            Console.SetOut(stdout);
            Console.SetError(stderr);
        }
    }
}
