using Lockstep.Models;
using Lockstep.Reporting;

namespace Lockstep.Cli.Commands;

/// <summary>
/// lockstep explain TOKEN: the interleaving step by step (task, function, lock, value), then the reports.
/// --format lkml: plain text for a mail reply (the reports plus a CPU0/CPU1 interleaving table); --html FILE: the viewer.
/// </summary>
public static class ExplainCommand
{
    public static int Run(string[] args)
    {
        var o = Options.Parse(args, new HashSet<string>(new[] { "html", "format" }.Concat(ModelOptions.Names)), new HashSet<string> { "help" });
        if (o.Flag("help") || o.Positional.Count != 1)
        {
            Console.WriteLine("usage: lockstep explain TOKEN [--format text|lkml] [--html FILE] [--patch FILE ..] [--world FILE ..]\n"
                + "       (a token printed by lockstep check: proposal/config/scenario/fingerprint/schedule;\n"
                + "        a token of a user patch or world needs the same --patch and --world files)");
            return o.Flag("help") ? 0 : 2;
        }
        var format = o.One("format") ?? "text";
        if (format is not ("text" or "lkml")) throw new UsageException($"unknown format '{format}' (known: text, lkml)");
        var token = o.Positional[0];
        var html = o.One("html");
        var registry = ModelOptions.Load(o);
        if (html != null || format == "lkml")
        {
            var trace = TraceCapture.FromToken(registry, token);
            if (trace.Divergence != null) Console.Error.WriteLine($"lockstep: warning: {trace.Divergence}");
            if (html != null)
            {
                CheckCommand.Write(html, Lockstep.Reporting.Html.Explain(trace));
                if (html != "-") Console.Error.WriteLine($"lockstep: wrote the trace viewer to {html}");
            }
            if (format == "lkml") Console.Write(Lkml.Render(trace));
            return 0;
        }
        var (proposal, config, scenario, _, replay) = Suite.Replay(registry, token, TaskContext.Of);
        Console.WriteLine($"proposal: {proposal.Id} ({proposal.Title}; {proposal.Source})");
        Console.WriteLine($"config:   {config.Describe()}");
        Console.WriteLine($"scenario: {scenario.Id}: {scenario.Description}");
        Console.WriteLine();
        Console.WriteLine("step  task              what");
        foreach (var line in TraceText.Lines(replay.Trace)) Console.WriteLine(line);
        Console.WriteLine();
        if (replay.Divergence != null) Console.Error.WriteLine($"lockstep: warning: {replay.Divergence}");
        if (replay.Violations.Count == 0) Console.WriteLine("(this execution reports nothing)");
        foreach (var v in replay.Violations)
        {
            var props = string.Join(",", Suite.Classify(registry, v, scenario).Select(x => x.Property).Distinct());
            Console.WriteLine($"---- {props}: {v.Message}");
            Console.WriteLine(Suite.Classify(registry, v, scenario).Select(x => x.Report.Render()).FirstOrDefault() ?? v.Render());
        }
        return 0;
    }
}
