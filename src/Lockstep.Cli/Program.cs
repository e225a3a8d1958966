using Lockstep.Cli.Commands;
using Lockstep.Scripting;

namespace Lockstep.Cli;

public static class Program
{
    private const string Usage = """
        usage: lockstep <command> [options]

          check     every proposal × config × property over the scenarios; prints the verdict matrix
          merge     SHARD.json..: the shards of one check (check --shard I/N) as that check's matrix and reports
          explain   TOKEN: the counterexample step by step, then the kernel-log report (--format lkml, --html FILE)
          graph     lockdep's dependency graph of a run as Graphviz DOT (SVG with dot), report cycles in red
          list      proposals, configs, scenarios and properties
          demo      the engine's own demo programs (analytic trace counts, planted bugs)
          replay    PROGRAM TOKEN: one execution of a demo program, step by step

        lockstep check --help, lockstep explain --help, lockstep graph --help for their options
        """;

    public static int Main(string[] args)
    {
        try
        {
            if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
            {
                Console.WriteLine(Usage);
                return args.Length == 0 ? 2 : 0;
            }
            var rest = args[1..];
            return args[0] switch
            {
                "check" => CheckCommand.Run(rest),
                "merge" => MergeCommand.Run(rest),
                "explain" => ExplainCommand.Run(rest),
                "graph" => GraphCommand.Run(rest),
                "replay" => ReplayCommand.Run(rest),
                "list" => ListCommand.Run(rest),
                "demo" => DemoCommand.Run(rest),
                _ => throw new UsageException($"unknown command '{args[0]}' (known: check, merge, explain, graph, list, demo, replay)"),
            };
        }
        catch (ScriptCompilationException e)
        {
            Console.Error.WriteLine(e.Message);
            return 2;
        }
        catch (Exception e) when (e is UsageException or ExtensionException)
        {
            Console.Error.WriteLine($"lockstep: {e.Message}");
            return 2;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"lockstep: {e.Message}");
            return 2;
        }
    }
}
