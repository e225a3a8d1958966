using System.Diagnostics;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Reporting;
using Spectre.Console;

namespace Lockstep.Cli.Commands;

/// <summary>
/// lockstep check: proposals × configs × properties over the scenarios. Every verdict comes from exploring the model.
/// Exit 0 when the run completed (violations are findings); with --fail-on-violation, 1 if anything was violated;
/// 3 if a model crashed (its cells are "unknown"; everything else is still printed).
/// </summary>
public static class CheckCommand
{
    public const long DefaultExecutions = 200_000;

    private static readonly HashSet<string> Valued = new(new[] { "proposal", "config", "property", "scenario", "json", "html", "sarif", "jobs", "stall-seconds" }.Concat(StrategyOptions.Names).Concat(ModelOptions.Names));
    private static readonly HashSet<string> Flags = new() { "fail-on-violation", "quiet", "verbose", "help" };

    public static int Run(string[] args)
    {
        var o = Options.Parse(args, Valued, Flags);
        if (o.Flag("help"))
        {
            Console.WriteLine("usage: lockstep check [--patch FILE.csx|.dll ..] [--world FILE.csx|.dll ..]\n"
                + "                      [--proposal ID,..] [--config default,rt] [--property S1,..] [--scenario ID,..]\n"
                + "                      [--strategy dpor|random|pct] [--executions N] [--seed N] [--depth D] [--preemption-bound K]\n"
                + "                      [--max-steps N] [--step-budget N] [--jobs N] [--stall-seconds N] [--time-limit SECONDS] [--json FILE|-] [--html FILE] [--sarif FILE]\n"
                + "                      [--fail-on-violation] [--quiet | --verbose]");
            return 0;
        }
        if (o.Positional.Count > 0) throw new UsageException($"unexpected argument '{o.Positional[0]}'");
        if (o.Flag("quiet") && o.Flag("verbose")) throw new UsageException("--quiet and --verbose exclude each other");
        var model = ModelOptions.Select(o);
        var (registry, proposals, configs, scenarios) = (model.Registry, model.Proposals, model.Configs, model.Scenarios);
        var properties = o.All("property").Count == 0 ? Properties.Ids.ToList() : o.All("property").Select(CheckProperty).ToList();
        var strategy = StrategyOptions.Factory(o, DefaultExecutions);
        var parallelism = (int)o.Number("jobs", Environment.ProcessorCount, 1);
        var stallLimit = TimeSpan.FromSeconds(o.Number("stall-seconds", 30, 1));
        var exploration = StrategyOptions.Exploration(o, DefaultExecutions);
        var json = o.One("json");
        var html = o.One("html");
        var sarif = o.One("sarif");
        var quiet = o.Flag("quiet") || json == "-";
        var verbosity = quiet ? Verbosity.Quiet : o.Flag("verbose") ? Verbosity.Verbose : Verbosity.Normal;

        var clock = Stopwatch.StartNew();
        var jobs = (from p in proposals from c in configs from s in scenarios select (p, c, s)).ToList();
        var runs = new ScenarioRun[jobs.Count];
        CheckProgress.Run(verbosity, jobs.Count, exploration.MaxExecutions, unsafeProgress =>
        {
            var progress = new SynchronizedProgress(unsafeProgress);
            var all = Suite.RunAll(registry, jobs, strategy, exploration with { Progress = progress.Executions }, parallelism, stallLimit,
                started: i => progress.RunStarted(jobs[i].p.Id, jobs[i].c.Name, jobs[i].s.Id), done: progress.RunFinished);
            all.ToArray().CopyTo(runs, 0);
        });
        var (results, modelErrors) = Tally(runs, properties, clock.Elapsed);
        var cells = results.Cells;

        if (!quiet)
        {
            if (Terminal.StdoutIsTerminal) Matrix.Render(Terminal.Out, results);
            else Matrix.Print(results);
            if (verbosity == Verbosity.Verbose) Matrix.Reports(results);
        }
        if (json != null) Write(json, JsonReport.Render(results) + (json == "-" ? "" : "\n"));
        if (html != null || sarif != null)
        {
            var traces = TraceCapture.ForCells(registry, results);
            if (html != null) Write(html, Lockstep.Reporting.Html.Check(results, traces));
            if (sarif != null) Write(sarif, Sarif.Render(results, Sarif.FromTraces(traces), Registry.Version));
            if (!quiet)
                foreach (var (what, file) in new[] { ("HTML report", html), ("SARIF log", sarif) })
                    if (file != null && file != "-") Console.Error.WriteLine($"lockstep: wrote the {what} to {file}");
        }
        foreach (var e in modelErrors) Console.Error.WriteLine($"lockstep: {e}");
        if (modelErrors.Count > 0) return 3;
        return o.Flag("fail-on-violation") && cells.Any(x => x.Verdict == "violated") ? 1 : 0;
    }

    /// <summary>The matrix of a check's runs: a cell per proposal × config × property (the first finding of a violated one), and the model errors.</summary>
    public static (CheckResults Results, IReadOnlyList<string> ModelErrors) Tally(IReadOnlyList<ScenarioRun> runs, IReadOnlyList<string> properties, TimeSpan elapsed)
    {
        var cells = new List<Cell>();
        var modelErrors = new List<string>();
        foreach (var row in runs.GroupBy(r => (r.Proposal, r.Config)))
        {
            var (p, c) = row.Key;
            foreach (var run in row)
                if (run.ModelError != null) modelErrors.Add($"model error in {p.Id}/{c.Name}/{run.Scenario.Id}: {run.ModelError}");
            var executions = row.Sum(r => r.Exploration.Executions);
            var exhaustive = row.All(r => r.Exploration.Exhaustive);
            foreach (var prop in properties)
            {
                var hit = row.SelectMany(r => r.Findings.Where(f => f.Property == prop).Select(f => (r, f))).FirstOrDefault();
                var unknown = hit.f == null && row.Any(r => r.ModelError != null);
                cells.Add(hit.f != null
                    ? new Cell(p.Id, c.Name, prop, "violated", executions, exhaustive, hit.f.Token, hit.r.Scenario.Id, hit.f.Violation.Render(), hit.f.Violation.Message)
                    : new Cell(p.Id, c.Name, prop, unknown ? "unknown" : "holds", executions, exhaustive, null, null, null, null));
            }
        }
        return (new CheckResults(cells, properties, elapsed), modelErrors);
    }

    /// <summary>Runs finish on several threads; the progress display sees one call at a time.</summary>
    private sealed class SynchronizedProgress(ICheckProgress inner) : ICheckProgress
    {
        public void RunStarted(string proposal, string config, string scenario) { lock (inner) inner.RunStarted(proposal, config, scenario); }

        public void Executions(long done) { lock (inner) inner.Executions(done); }

        public void RunFinished(ScenarioRun run) { lock (inner) inner.RunFinished(run); }
    }

    internal static void Write(string target, string text)
    {
        if (target == "-") Console.WriteLine(text);
        else File.WriteAllText(target, text);
    }

    private static string CheckProperty(string p)
        => Properties.All.ContainsKey(p) ? p : throw new UsageException($"unknown property '{p}' (known: {string.Join(", ", Properties.Ids)})");
}

/// <summary>The verdict matrix: a row per proposal × config, a column per property.</summary>
public static class Matrix
{
    /// <summary>The table in plain text (the format the README shows), one line per proposal × config.</summary>
    public static string Table(CheckResults results)
    {
        var sb = new System.Text.StringBuilder();
        var properties = results.Properties;
        var rows = results.Cells.GroupBy(c => (c.Proposal, c.Config)).ToList();
        var first = Math.Max(30, rows.Select(r => $"{r.Key.Proposal} {r.Key.Config}".Length).DefaultIfEmpty(0).Max() + 2);
        sb.AppendLine("proposal / config".PadRight(first) + string.Join("", properties.Select(p => p.PadRight(4))) + "  executions");
        foreach (var row in rows)
        {
            var line = (row.Key.Proposal + " " + row.Key.Config).PadRight(first);
            foreach (var p in properties)
                line += row.First(x => x.Property == p).Verdict switch { "holds" => "ok  ", "unknown" => "?   ", _ => "XX  " };
            var any = row.First();
            sb.AppendLine($"{line}  {any.Executions} ({(any.Exhaustive ? "exhaustive" : "bounded")})");
        }
        return sb.ToString();
    }

    /// <summary>Plain text, for files and pipes: the table, then the violations with their tokens.</summary>
    public static void Print(CheckResults results)
    {
        var cells = results.Cells;
        Console.Write(Table(results));
        Console.WriteLine();
        Console.WriteLine("ok = holds, XX = violated, ? = unknown (model error). Violations, each with the token that replays it (lockstep explain TOKEN):");
        foreach (var c in results.Violated)
            Console.WriteLine($"  {c.Proposal} {c.Config} {c.Property} [{c.Scenario}] {c.Headline}\n      {c.Token}");
        Console.WriteLine($"\n{cells.Count} cells in {results.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>On a terminal: a coloured, aligned Spectre table, then the violations with their tokens.</summary>
    public static void Render(IAnsiConsole console, CheckResults results)
    {
        var table = new Table().Border(TableBorder.Rounded).BorderColor(Color.Grey);
        table.AddColumn(new TableColumn("[bold]proposal / config[/]"));
        foreach (var p in results.Properties) table.AddColumn(new TableColumn($"[bold]{Markup.Escape(p)}[/]").Centered());
        table.AddColumn(new TableColumn("[bold]executions[/]").RightAligned());
        foreach (var row in results.Cells.GroupBy(c => (c.Proposal, c.Config)))
        {
            var columns = new List<string> { $"{Markup.Escape(row.Key.Proposal)} [grey]{Markup.Escape(row.Key.Config)}[/]" };
            foreach (var p in results.Properties)
                columns.Add(row.First(x => x.Property == p).Verdict switch
                {
                    "holds" => "[green]ok[/]",
                    "unknown" => "[black on yellow] ? [/]",
                    _ => "[bold white on red]XX[/]",
                });
            var any = row.First();
            columns.Add($"{any.Executions:N0} [grey]({(any.Exhaustive ? "exhaustive" : "bounded")})[/]");
            table.AddRow(columns.ToArray());
        }
        console.Write(table);
        console.MarkupLine("[green]ok[/] = holds, [bold white on red]XX[/] = violated, [black on yellow] ? [/] = unknown (model error).");
        if (results.Violated.Any())
        {
            console.MarkupLine("Violations, each with the token that replays it ([bold]lockstep explain TOKEN[/]):");
            foreach (var c in results.Violated)
                console.MarkupLine($"  {Markup.Escape(c.Proposal)} {Markup.Escape(c.Config)} [red]{Markup.Escape(c.Property)}[/] [grey][[{Markup.Escape(c.Scenario ?? "")}]][/] {Markup.Escape(c.Headline ?? "")}\n      [blue]{Markup.Escape(c.Token ?? "")}[/]");
        }
        console.MarkupLine($"\n{results.Cells.Count} cells in {results.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>--verbose: every violation's kernel-log report in full.</summary>
    public static void Reports(CheckResults results)
    {
        foreach (var c in results.Violated)
        {
            Console.WriteLine($"\n---- {c.Proposal} {c.Config} {c.Property} [{c.Scenario}] {c.Token}");
            Console.WriteLine(c.Report?.TrimEnd());
        }
    }
}
