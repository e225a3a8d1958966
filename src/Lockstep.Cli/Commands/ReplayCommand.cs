using Lockstep.Engine;

namespace Lockstep.Cli.Commands;

/// <summary>lockstep replay PROGRAM TOKEN: re-runs one execution of a demo program from the token `lockstep demo` printed.</summary>
public static class ReplayCommand
{
    public static int Run(string[] args)
    {
        var o = Options.Parse(args, new HashSet<string>(), new HashSet<string> { "help" });
        if (o.Flag("help"))
        {
            Console.WriteLine("usage: lockstep replay PROGRAM TOKEN   (a demo program and a token printed by lockstep demo)");
            return 0;
        }
        if (o.Positional.Count != 2)
            throw new UsageException($"replay takes PROGRAM TOKEN, not {o.Positional.Count} argument(s) (programs: {string.Join(", ", DemoPrograms.All.Select(e => e.Name))})");
        var demo = DemoPrograms.Find(o.Positional[0]);
        var replay = Explorer.Replay(demo.Model(), o.Positional[1]);   // FormatException on a malformed token
        Console.WriteLine($"program: {demo.Display}");
        Console.WriteLine("step  thread            what");
        foreach (var line in Lockstep.Reporting.TraceText.Lines(replay.Trace)) Console.WriteLine(line);
        Console.WriteLine();
        if (replay.Divergence != null) Console.Error.WriteLine($"lockstep: warning: {replay.Divergence}");
        if (replay.Violations.Count == 0) Console.WriteLine("(this execution reports nothing)");
        foreach (var v in replay.Violations) Console.WriteLine($"---- {v.Message}");
        return 0;
    }
}
