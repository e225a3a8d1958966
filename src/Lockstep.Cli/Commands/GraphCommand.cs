using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Reporting;

namespace Lockstep.Cli.Commands;

/// <summary>
/// lockstep graph: explores the selected proposal × config × scenario runs and writes lockdep's dependency graph of each
/// proposal × config (the union over its scenarios) as Graphviz DOT, lockdep reports' cycles and recursive edges in red;
/// with --token, the graph of that token's run with that execution's reports highlighted. SVG too when dot is on PATH.
/// </summary>
public static class GraphCommand
{
    private static readonly HashSet<string> Valued = new(new[] { "proposal", "config", "scenario", "token", "output" }.Concat(StrategyOptions.Names).Concat(ModelOptions.Names));
    private static readonly HashSet<string> Flags = new() { "quiet", "verbose", "help" };

    public static int Run(string[] args)
    {
        var o = Options.Parse(args.Select(a => a == "-o" ? "--output" : a), Valued, Flags);
        if (o.Flag("help"))
        {
            Console.WriteLine("usage: lockstep graph [--patch FILE ..] [--world FILE ..] [--proposal ID,..] [--config default,rt] [--scenario ID,..] [--token TOKEN] [-o FILE.dot|FILE.svg]\n"
                + "                      [--strategy dpor|random|pct] [--executions N] [...the exploration options of check] [--quiet | --verbose]\n"
                + "  DOT to stdout or FILE (and FILE.svg next to it when Graphviz's dot is on PATH); FILE.svg needs dot.");
            return 0;
        }
        if (o.Positional.Count > 0) throw new UsageException($"unexpected argument '{o.Positional[0]}'");
        var token = o.One("token");
        var output = o.One("output");
        var dot = LockGraph.FindDot();
        if (output != null && output.EndsWith(".svg", StringComparison.OrdinalIgnoreCase) && dot == null)
            throw new UsageException($"writing '{output}' needs Graphviz's dot on PATH (or write DOT: -o {Path.ChangeExtension(output, ".dot")})");

        IReadOnlyList<Lockstep.Models.Proposals.Proposal> proposals;
        IReadOnlyList<KernelConfig> configs;
        IReadOnlyList<Lockstep.Models.Scenarios.Scenario> scenarios;
        List<KernelReport>? tokenReports = null;
        Registry registry;
        if (token != null)
        {
            if (o.All("proposal").Count + o.All("config").Count + o.All("scenario").Count > 0)
                throw new UsageException("--token names its proposal, config and scenario; leave out --proposal, --config, --scenario");
            registry = ModelOptions.Load(o);
            var replayed = Suite.Replay(registry, token, TaskContext.Of);
            proposals = new[] { replayed.Proposal };
            configs = new[] { replayed.Config };
            scenarios = new[] { replayed.Scenario };
            tokenReports = replayed.Replay.Violations.OfType<KernelReport>().ToList();
        }
        else
        {
            var model = ModelOptions.Select(o);
            (registry, proposals, configs, scenarios) = (model.Registry, model.Proposals, model.Configs, model.Scenarios);
        }
        var strategy = StrategyOptions.Factory(o, CheckCommand.DefaultExecutions);
        var budgets = StrategyOptions.Budgets(o, CheckCommand.DefaultExecutions);
        var verbosity = o.Flag("quiet") ? Verbosity.Quiet : o.Flag("verbose") ? Verbosity.Verbose : Verbosity.Normal;

        var graphs = new List<LockGraph.Graph>();
        CheckProgress.Run(verbosity, proposals.Count * configs.Count * scenarios.Count, StrategyOptions.Exploration(o, CheckCommand.DefaultExecutions).MaxExecutions, progress =>
        {
            foreach (var p in proposals)
                foreach (var c in configs)
                {
                    var runs = new List<(string, Lockdep)>();
                    var reports = new List<KernelReport>();
                    foreach (var s in scenarios)
                    {
                        progress.RunStarted(p.Id, c.Name, s.Id);
                        var kernel = new Lockstep.Kernel.Kernel(c);
                        var result = Explorer.Explore(s.Model(kernel, p), strategy(), budgets(p) with { StopOnFirstViolation = false, Progress = progress.Executions });
                        runs.Add((s.Id, kernel.Lockdep));
                        reports.AddRange(result.Violations.OfType<KernelReport>());
                        var (findings, modelError) = Suite.Findings(registry, p, c, s, result);
                        progress.RunFinished(new ScenarioRun(p, c, s, result, findings, modelError));
                    }
                    var title = $"{p.Id} {c.Name}" + (scenarios.Count == 1 ? $" · {scenarios[0].Id}" : "");
                    graphs.Add(LockGraph.Build(title, runs, tokenReports ?? reports));
                }
        });
        var text = LockGraph.Dot(graphs);
        if (output == null)
        {
            Console.Write(text);
            return 0;
        }
        if (output.EndsWith(".svg", StringComparison.OrdinalIgnoreCase))
        {
            File.WriteAllText(output, LockGraph.Svg(dot!, text));
            if (verbosity != Verbosity.Quiet) Console.Error.WriteLine($"lockstep: wrote {output}");
            return 0;
        }
        File.WriteAllText(output, text);
        if (verbosity != Verbosity.Quiet) Console.Error.WriteLine($"lockstep: wrote {output}");
        if (dot != null)
        {
            var svg = Path.ChangeExtension(output, ".svg");
            File.WriteAllText(svg, LockGraph.Svg(dot, text));
            if (verbosity != Verbosity.Quiet) Console.Error.WriteLine($"lockstep: wrote {svg}");
        }
        return 0;
    }
}
