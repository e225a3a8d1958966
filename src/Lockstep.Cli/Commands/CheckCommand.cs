using System.Diagnostics;
using System.Text.Json;
using Lockstep.Kernel;
using Lockstep.Models;

namespace Lockstep.Cli.Commands;

/// <summary>
/// lockstep check: proposals × configs × properties over the scenarios. Every verdict comes from exploring the model.
/// Exit 0 when the run completed (violations are findings); with --fail-on-violation, 1 if anything was violated;
/// 3 if a model crashed (its cells are "unknown"; everything else is still printed).
/// </summary>
public static class CheckCommand
{
    public const long DefaultExecutions = 10_000;

    private static readonly HashSet<string> Valued = new(new[] { "proposal", "config", "property", "scenario", "json" }.Concat(StrategyOptions.Names));
    private static readonly HashSet<string> Flags = new() { "fail-on-violation", "quiet", "help" };

    public sealed record Cell(string Proposal, string Config, string Property, string Verdict, long Executions, bool Exhaustive,
        string? Token, string? Scenario, string? Report, string? Headline);

    public static int Run(string[] args)
    {
        var o = Options.Parse(args, Valued, Flags);
        if (o.Flag("help"))
        {
            Console.WriteLine("usage: lockstep check [--proposal ID,..] [--config default,rt] [--property S1,..] [--scenario ID,..]\n"
                + "                      [--strategy dpor|random|pct] [--executions N] [--seed N] [--depth D] [--preemption-bound K]\n"
                + "                      [--max-steps N] [--time-limit SECONDS] [--json FILE|-] [--fail-on-violation] [--quiet]");
            return 0;
        }
        if (o.Positional.Count > 0) throw new UsageException($"unexpected argument '{o.Positional[0]}'");
        var proposals = Select(o.All("proposal"), Lockstep.Models.Proposals.Catalog.All, Lockstep.Models.Proposals.Catalog.Find);
        var configs = Select(o.All("config"), Suite.Configs, KernelConfig.Parse);
        var scenarios = Select(o.All("scenario"), Lockstep.Models.Scenarios.Catalog.All, Lockstep.Models.Scenarios.Catalog.Find);
        var properties = o.All("property").Count == 0 ? Properties.Ids.ToList() : o.All("property").Select(CheckProperty).ToList();
        var strategy = StrategyOptions.Factory(o, DefaultExecutions);
        var exploration = StrategyOptions.Exploration(o, DefaultExecutions);
        var json = o.One("json");
        var quiet = o.Flag("quiet") || json == "-";

        var clock = Stopwatch.StartNew();
        var cells = new List<Cell>();
        var modelErrors = new List<string>();
        foreach (var p in proposals)
            foreach (var c in configs)
            {
                var runs = new List<ScenarioRun>();
                foreach (var s in scenarios)
                {
                    if (!quiet && !Console.IsOutputRedirected) Console.Error.Write($"\r  {p.Id} × {c.Name} × {s.Id} ...".PadRight(80));
                    var run = Suite.Run(p, c, s, strategy(), exploration);
                    runs.Add(run);
                    if (run.ModelError != null) modelErrors.Add($"model error in {p.Id}/{c.Name}/{s.Id}: {run.ModelError}");
                }
                var executions = runs.Sum(r => r.Exploration.Executions);
                var exhaustive = runs.All(r => r.Exploration.Exhaustive);
                foreach (var prop in properties)
                {
                    var hit = runs.SelectMany(r => r.Findings.Where(f => f.Property == prop).Select(f => (r, f))).FirstOrDefault();
                    var unknown = hit.f == null && runs.Any(r => r.ModelError != null);
                    cells.Add(hit.f != null
                        ? new Cell(p.Id, c.Name, prop, "violated", executions, exhaustive, hit.f.Token, hit.r.Scenario.Id, hit.f.Violation.Render(), hit.f.Violation.Message)
                        : new Cell(p.Id, c.Name, prop, unknown ? "unknown" : "holds", executions, exhaustive, null, null, null, null));
                }
            }
        if (!quiet && !Console.IsOutputRedirected) Console.Error.Write("\r".PadRight(81) + "\r");

        if (!quiet) Matrix.Print(cells, properties, clock.Elapsed);
        if (json != null) WriteJson(json, cells, clock.Elapsed);
        foreach (var e in modelErrors) Console.Error.WriteLine($"lockstep: {e}");
        if (modelErrors.Count > 0) return 3;
        return o.Flag("fail-on-violation") && cells.Any(x => x.Verdict == "violated") ? 1 : 0;
    }

    private static List<T> Select<T>(IReadOnlyList<string> wanted, IReadOnlyList<T> all, Func<string, T> find)
        => wanted.Count == 0 ? all.ToList() : wanted.Select(find).ToList();

    private static string CheckProperty(string p)
        => Properties.All.ContainsKey(p) ? p : throw new UsageException($"unknown property '{p}' (known: {string.Join(", ", Properties.Ids)})");

    /// <summary>The stable JSON schema: { tool, version, elapsed_seconds, results: [ {proposal, config, property, verdict, executions, exhaustive, token, scenario, headline, report} ] }.</summary>
    private static void WriteJson(string target, List<Cell> cells, TimeSpan elapsed)
    {
        var doc = new
        {
            tool = "lockstep",
            schema = 1,
            elapsed_seconds = Math.Round(elapsed.TotalSeconds, 3),
            results = cells.Select(c => new
            {
                proposal = c.Proposal, config = c.Config, property = c.Property, verdict = c.Verdict,
                executions = c.Executions, exhaustive = c.Exhaustive, token = c.Token, scenario = c.Scenario,
                headline = c.Headline, report = c.Report,
            }),
        };
        var text = JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
        if (target == "-") Console.WriteLine(text);
        else File.WriteAllText(target, text + "\n");
    }
}

/// <summary>The verdict matrix as text: a row per proposal × config, a column per property.</summary>
public static class Matrix
{
    public static void Print(IReadOnlyList<CheckCommand.Cell> cells, IReadOnlyList<string> properties, TimeSpan elapsed)
    {
        var rows = cells.GroupBy(c => (c.Proposal, c.Config)).ToList();
        var first = Math.Max(30, rows.Max(r => $"{r.Key.Proposal} {r.Key.Config}".Length) + 2);
        Console.WriteLine("proposal / config".PadRight(first) + string.Join("", properties.Select(p => p.PadRight(4))) + "  executions");
        var footnotes = new List<CheckCommand.Cell>();
        foreach (var row in rows)
        {
            var line = (row.Key.Proposal + " " + row.Key.Config).PadRight(first);
            foreach (var p in properties)
            {
                var c = row.First(x => x.Property == p);
                line += c.Verdict switch { "holds" => "ok  ", "unknown" => "?   ", _ => "XX  " };
                if (c.Verdict == "violated") footnotes.Add(c);
            }
            var any = row.First();
            Console.WriteLine($"{line}  {any.Executions} ({(any.Exhaustive ? "exhaustive" : "bounded")})");
        }
        Console.WriteLine();
        Console.WriteLine("ok = holds, XX = violated, ? = unknown (model error). Violations, each with the token that replays it (lockstep explain TOKEN):");
        foreach (var c in footnotes)
            Console.WriteLine($"  {c.Proposal} {c.Config} {c.Property} [{c.Scenario}] {c.Headline}\n      {c.Token}");
        Console.WriteLine($"\n{cells.Count} cells in {elapsed.TotalSeconds:0.0} s");
    }
}
