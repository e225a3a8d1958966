using Lockstep.Models;

namespace Lockstep.Cli.Commands;

/// <summary>lockstep explain TOKEN: the interleaving step by step (task, function, lock, value), then the reports.</summary>
public static class ExplainCommand
{
    public static int Run(string[] args)
    {
        var o = Options.Parse(args, new HashSet<string>(), new HashSet<string> { "help" });
        if (o.Flag("help") || o.Positional.Count != 1)
        {
            Console.WriteLine("usage: lockstep explain TOKEN   (a token printed by lockstep check: proposal/config/scenario/schedule)");
            return o.Flag("help") ? 0 : 2;
        }
        var (proposal, config, scenario, replay) = Suite.Replay(o.Positional[0]);
        Console.WriteLine($"proposal: {proposal.Id} ({proposal.Title}; {proposal.Source})");
        Console.WriteLine($"config:   {config.Describe()}");
        Console.WriteLine($"scenario: {scenario.Id}: {scenario.Description}");
        Console.WriteLine();
        Console.WriteLine("step  task              what");
        foreach (var e in replay.Trace)
            Console.WriteLine($"{e.Step,4}  {e.ThreadName,-16}  {(e.IsNote ? "" : "* ")}{e.Text}");
        Console.WriteLine();
        if (replay.Divergence != null) Console.Error.WriteLine($"lockstep: warning: {replay.Divergence}");
        if (replay.Violations.Count == 0) Console.WriteLine("(this execution reports nothing)");
        foreach (var v in replay.Violations)
        {
            var props = string.Join(",", Suite.Classify(v, scenario).Select(x => x.Property).Distinct());
            Console.WriteLine($"---- {props}: {v.Message}");
            Console.WriteLine(Suite.Classify(v, scenario).Select(x => x.Report.Render()).FirstOrDefault() ?? v.Render());
        }
        return 0;
    }
}
