using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;
using Lockstep.Reporting;
using Spectre.Console;

namespace Lockstep.Cli.Commands;

/// <summary>
/// lockstep check: proposals × configs × properties over the scenarios, each run compared with the baseline proposal's
/// run of the same config and scenario. Every verdict comes from exploring the model. Exit 0 when the run completed
/// (violations are findings; bounded cells are not proofs but do not change the exit code); with --fail-on-violation
/// or --fail-on any, 1 if anything was violated; with --fail-on new, 1 if a proposal has a finding its baseline has not;
/// 3 if a model crashed (its cells are "unknown"; everything else is still printed). With --shard I/N it runs the shard's
/// runs only and writes them to --json FILE for `lockstep merge` (<see cref="MergeCommand"/>), which reports the check
/// (and gives its exit code); the shard exits 0 once its file is written.
/// </summary>
public static class CheckCommand
{
    public const long DefaultExecutions = 1_000_000;

    public const string DefaultBaseline = "mainline";

    /// <summary>The options `check` takes (a shard records them, and `merge` reads them back, <see cref="Plan.From"/>).</summary>
    internal static readonly HashSet<string> Valued = new(new[] { "proposal", "config", "property", "scenario", "baseline", "fail-on", "json", "html", "sarif", "jobs", "stall-seconds", "shard" }.Concat(StrategyOptions.Names).Concat(ModelOptions.Names));
    internal static readonly HashSet<string> Flags = new() { "fail-on-violation", "quiet", "verbose", "help" };

    /// <summary>The options that do not change what a check finds: how it runs and where it writes (a shard's recorded options leave them out).</summary>
    internal static readonly HashSet<string> NotRecorded = new() { "shard", "jobs", "stall-seconds", "json", "html", "sarif", "quiet", "verbose", "help" };

    public static int Run(string[] args)
    {
        var o = Options.Parse(args, Valued, Flags);
        if (o.Flag("help"))
        {
            Console.WriteLine("usage: lockstep check [--patch FILE.csx|.dll ..] [--world FILE.csx|.dll ..]\n"
                + "                      [--proposal ID,..] [--config default,rt] [--property S1,..] [--scenario ID,..] [--baseline ID|none]\n"
                + "                      [--strategy dpor|random|pct] [--executions N] [--seed N] [--depth D] [--preemption-bound K]\n"
                + "                      [--max-steps N] [--step-budget N] [--saturation PERCENT|off] [--jobs N] [--stall-seconds N] [--time-limit SECONDS] [--json FILE|-] [--html FILE] [--sarif FILE]\n"
                + "                      [--fail-on-violation | --fail-on new|any] [--quiet | --verbose] [--shard I/N|auto/N --json FILE]");
            return 0;
        }
        if (o.Positional.Count > 0) throw new UsageException($"unexpected argument '{o.Positional[0]}'");
        if (o.Flag("quiet") && o.Flag("verbose")) throw new UsageException("--quiet and --verbose exclude each other");
        var plan = Plan.From(o);
        var shard = o.One("shard") is { } spec ? ParseShard(spec) : null;
        var parallelism = (int)o.Number("jobs", Environment.ProcessorCount, 1);
        var stallLimit = TimeSpan.FromSeconds(o.Number("stall-seconds", 30, 1));
        var output = Output.From(o);
        if (shard != null && (output.Json is null or "-" || output.Html != null || output.Sarif != null))
            throw new UsageException("--shard writes its result to --json FILE (and no --html or --sarif: lockstep merge writes those)");

        var clock = Stopwatch.StartNew();
        var jobs = shard == null ? plan.Jobs : plan.JobsOf(shard);
        var runs = new ScenarioRun[jobs.Count];
        CheckProgress.Run(output.Verbosity, jobs.Count, o.Number("executions", DefaultExecutions, 1), unsafeProgress =>
        {
            var progress = new SynchronizedProgress(unsafeProgress);
            var all = Suite.RunAll(plan.Registry, jobs, plan.Strategy, p => plan.Budgets(p) with { Progress = progress.Executions }, parallelism, stallLimit,
                started: i => progress.RunStarted(jobs[i].Proposal.Id, jobs[i].Config.Name, jobs[i].Scenario.Id), done: progress.RunFinished,
                saturation: plan.Saturation, found: (i, f) => progress.Found(jobs[i], f));
            all.ToArray().CopyTo(runs, 0);
        });
        if (shard == null) return Report(plan, runs, clock.Elapsed, output);

        // a shard's matrix covers its own runs only; lockstep merge reports the check (and its exit code)
        var (results, _) = CheckResults.Tally(runs, plan.Properties, plan.Baseline?.Id, clock.Elapsed);
        if (!output.Quiet) Matrix.Print(results, output.Verbosity == Verbosity.Verbose);
        Write(output.Json!, ShardFile.Render(shard, o.Canonical(NotRecorded), plan.Fingerprint, runs, results) + "\n");
        if (!output.Quiet) Console.Error.WriteLine($"lockstep: wrote shard {shard} ({runs.Length} of {plan.Jobs.Count} runs) to {output.Json}");
        return 0;
    }

    /// <summary>
    /// What a check runs, from its options: the registry, the jobs (every row × config × scenario, the baseline's rows
    /// first, also when it is not among the proposals checked), the properties, the baseline, --fail-on, the strategy and
    /// the budgets; and the model's fingerprint over all the jobs (Lockstep's version and the user files they run).
    /// </summary>
    internal sealed record Plan(Registry Registry, IReadOnlyList<(Proposal Proposal, KernelConfig Config, Scenario Scenario)> Jobs, int Configs, int Scenarios,
        IReadOnlyList<string> Properties, Proposal? Baseline, string? FailOn, Func<IStrategy> Strategy, Func<Proposal, ExplorationOptions> Budgets,
        Saturation? Saturation)
    {
        /// <summary>The shard's jobs, in job order (rows × configs × scenarios; <see cref="ShardId"/> partitions them).</summary>
        public IReadOnlyList<(Proposal Proposal, KernelConfig Config, Scenario Scenario)> JobsOf(ShardId shard)
            => Jobs.Where((_, k) => shard.Owns(k / (Configs * Scenarios), k / Scenarios % Configs, k % Scenarios, Configs, Scenarios)).ToList();

        public string Fingerprint => Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes(
            string.Join("|", Jobs.Select(j => Registry.Fingerprint(j.Proposal, j.Scenario)).Prepend(Registry.Version)))))[..16].ToLowerInvariant();

        public static Plan From(Options o)
        {
            var model = ModelOptions.Select(o);
            var (registry, proposals, configs, scenarios) = (model.Registry, model.Proposals, model.Configs, model.Scenarios);
            var properties = o.All("property").Count == 0 ? Lockstep.Models.Properties.Ids.ToList() : o.All("property").Select(CheckProperty).ToList();
            var baseline = o.One("baseline") ?? DefaultBaseline;
            var baselineProposal = baseline == "none" ? null : registry.Proposal(baseline);
            var failOn = o.One("fail-on") ?? (o.Flag("fail-on-violation") ? "any" : null);
            if (failOn is not (null or "new" or "any")) throw new UsageException($"--fail-on takes new or any, not '{failOn}'");
            if (o.One("fail-on") != null && o.Flag("fail-on-violation")) throw new UsageException("--fail-on-violation is --fail-on any; give one of them");
            if (failOn == "new" && baselineProposal == null) throw new UsageException("--fail-on new needs a baseline (not --baseline none)");
            var strategy = StrategyOptions.Factory(o, DefaultExecutions);
            var budgets = StrategyOptions.Budgets(o, DefaultExecutions);
            var rows = baselineProposal == null ? proposals : proposals.Where(p => p != baselineProposal).Prepend(baselineProposal).ToList();
            var jobs = (from p in rows from c in configs from s in scenarios select (p, c, s)).ToList();
            return new Plan(registry, jobs, configs.Count, scenarios.Count, properties, baselineProposal, failOn, strategy, budgets, StrategyOptions.Saturation(o));
        }
    }

    /// <summary>Where a check's report goes: --json, --html, --sarif, and how much it says (--quiet, --verbose; --json - is quiet).</summary>
    internal sealed record Output(string? Json, string? Html, string? Sarif, Verbosity Verbosity)
    {
        public bool Quiet => Verbosity == Verbosity.Quiet;

        public static Output From(Options o)
        {
            var json = o.One("json");
            var quiet = o.Flag("quiet") || json == "-";
            return new Output(json, o.One("html"), o.One("sarif"), quiet ? Verbosity.Quiet : o.Flag("verbose") ? Verbosity.Verbose : Verbosity.Normal);
        }
    }

    /// <summary>"I/N" (0 ≤ I &lt; N), or "auto/N": I from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (a Slurm array).</summary>
    internal static ShardId ParseShard(string spec)
    {
        var parts = spec.Split('/');
        if (parts.Length != 2 || !int.TryParse(parts[1], out var count) || count < 1)
            throw new UsageException($"--shard takes I/N or auto/N (N >= 1), not '{spec}'");
        var index = parts[0];
        if (index == "auto")
            index = Environment.GetEnvironmentVariable("JOB_COMPLETION_INDEX") ?? Environment.GetEnvironmentVariable("SLURM_ARRAY_TASK_ID")
                ?? throw new UsageException("--shard auto/N takes the index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID (Slurm array), and neither is set");
        if (!int.TryParse(index, out var i) || i < 0 || i >= count)
            throw new UsageException($"--shard {spec}: the index must be 0..{count - 1}, not '{index}'");
        return new ShardId(i, count);
    }

    /// <summary>
    /// The check's report of its runs (in job order): the matrix (unless quiet), --json, --html, --sarif, the model errors;
    /// and its exit code. `check` and `merge` both end here, so the merged shards say exactly what one process says.
    /// </summary>
    internal static int Report(Plan plan, IReadOnlyList<ScenarioRun> runs, TimeSpan elapsed, Output output)
    {
        var (results, modelErrors) = CheckResults.Tally(runs, plan.Properties, plan.Baseline?.Id, elapsed);
        var cells = results.Cells;
        var (json, html, sarif, quiet) = (output.Json, output.Html, output.Sarif, output.Quiet);
        if (!quiet)
        {
            var verbose = output.Verbosity == Verbosity.Verbose;
            if (Terminal.StdoutIsTerminal) Matrix.Render(Terminal.Out, results, verbose);
            else Matrix.Print(results, verbose);
            if (verbose) Matrix.Reports(results);
        }
        if (json != null) Write(json, JsonReport.Render(results) + (json == "-" ? "" : "\n"));
        if (html != null || sarif != null)
        {
            var traces = TraceCapture.ForCells(plan.Registry, results);
            if (html != null) Write(html, Lockstep.Reporting.Html.Check(results, traces));
            if (sarif != null) Write(sarif, Sarif.Render(results, Sarif.FromTraces(traces), Registry.Version));
            if (!quiet)
                foreach (var (what, file) in new[] { ("HTML report", html), ("SARIF log", sarif) })
                    if (file != null && file != "-") Console.Error.WriteLine($"lockstep: wrote the {what} to {file}");
        }
        foreach (var e in modelErrors) Console.Error.WriteLine($"lockstep: {e}");
        if (modelErrors.Count > 0) return 3;
        return plan.FailOn switch
        {
            "any" when cells.Any(x => x.Verdict == "violated") => 1,
            "new" when cells.Any(x => x.New.Any()) => 1,
            _ => 0,
        };
    }

    /// <summary>Runs finish on several threads; the progress display sees one call at a time, and each row's finding (property and signature) once.</summary>
    private sealed class SynchronizedProgress(ICheckProgress inner) : ICheckProgress
    {
        private readonly HashSet<(string, string, string, string)> _announced = new();

        public void Found((Proposal Proposal, KernelConfig Config, Scenario Scenario) job, Finding f) => Found(job.Proposal.Id, job.Config.Name, job.Scenario.Id, f);

        public void Found(string proposal, string config, string scenario, Finding finding)
        {
            lock (inner)
                if (_announced.Add((proposal, config, finding.Property, finding.Signature))) inner.Found(proposal, config, scenario, finding);
        }

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

/// <summary>The verdict matrix: a row per proposal × config, a column per property (<see cref="Cell.Mark"/>).</summary>
public static class Matrix
{
    /// <summary>The table in plain text (the format the README shows), one line per proposal × config.</summary>
    public static string Table(CheckResults results)
    {
        var sb = new System.Text.StringBuilder();
        var properties = results.Properties;
        var rows = results.Cells.GroupBy(c => (c.Proposal, c.Config)).ToList();
        var first = Math.Max(30, rows.Select(r => $"{r.Key.Proposal} {r.Key.Config}".Length).DefaultIfEmpty(0).Max() + 2);
        var width = properties.ToDictionary(p => p, p => Math.Max(4, results.Cells.Where(c => c.Property == p).Select(c => c.Mark.Length + 2).DefaultIfEmpty(0).Max()));
        sb.AppendLine("proposal / config".PadRight(first) + string.Join("", properties.Select(p => p.PadRight(width[p]))) + "  executions");
        foreach (var row in rows)
        {
            var line = (row.Key.Proposal + " " + row.Key.Config).PadRight(first);
            foreach (var p in properties) line += row.First(x => x.Property == p).Mark.PadRight(width[p]);
            var any = row.First();
            sb.AppendLine($"{line}  {any.Executions} ({(any.Exhaustive ? "exhaustive" : "bounded")})");
        }
        return sb.ToString();
    }

    /// <summary>Each bounded run of the matrix's rows: which row and scenario, and how far its search went.</summary>
    private static IEnumerable<(string Row, BoundedRun Run)> Bounded(CheckResults results)
        => results.Cells.GroupBy(c => (c.Proposal, c.Config)).SelectMany(g => g.First().Bounded.Select(b => ($"{g.Key.Proposal} {g.Key.Config}", b)));

    /// <summary>A cell's findings of one change and signature over the scenarios that have them: one entry of the listing after the matrix.</summary>
    private sealed record Listing(Cell Cell, Change? Change, string Signature, CellFinding First, string Scenarios, long Executions, string FoundBy);

    /// <summary>
    /// What the listing after the matrix shows: every finding of a row with no baseline (the baseline's own, say), the new
    /// and fixed ones of a row compared with it (<paramref name="all"/>: the kept ones too); grouped by signature.
    /// </summary>
    private static IEnumerable<Listing> Listed(CheckResults results, bool all)
        => results.Cells.SelectMany(c => c.All.Where(f => all || f.Change != Change.Kept).GroupBy(f => (f.Change, f.Signature))
            .Select(g => new Listing(c, g.Key.Change, g.Key.Signature, g.First(), string.Join(", ", g.Select(f => f.Scenario)), g.Sum(f => f.Executions),
                string.Join(", ", g.Select(f => f.FoundBy).Distinct()))));

    /// <summary>"kept N as BASELINE" lines for the cells whose kept findings the listing leaves out.</summary>
    private static IEnumerable<string> KeptSummary(CheckResults results)
        => results.Cells.Where(c => c.Kept.Any())
            .Select(c => $"  {c.Proposal} {c.Config} {c.Property}: {c.Kept.Select(f => f.Signature).Distinct().Count()} kept, as {results.Baseline} has them (--verbose or --json lists them)");

    /// <summary>"new ", "kept ", "fixed " or nothing without a baseline.</summary>
    private static string ChangeWord(CellFinding f) => f.Change is { } c ? JsonReport.ChangeName(c) + " " : "";

    /// <summary>Plain text, for files and pipes: the table, the bounded runs, then the findings with their tokens (<see cref="Listed"/>).</summary>
    public static void Print(CheckResults results, bool verbose = false)
    {
        Console.Write(Table(results));
        Console.WriteLine();
        Console.WriteLine(results.Legend);
        var bounded = Bounded(results).ToList();
        if (bounded.Count > 0)
        {
            Console.WriteLine("Bounded runs (nothing they did not find is proven absent):");
            foreach (var (row, b) in bounded) Console.WriteLine($"  {row} [{b.Scenario}] bounded: {b.Text}");
        }
        var listed = Listed(results, verbose).ToList();
        if (listed.Count > 0)
        {
            Console.WriteLine("Findings, each with the token that replays it (lockstep explain TOKEN); fixed: the baseline's, listed with its row:");
            foreach (var l in listed)
                Console.WriteLine(l.Change == Change.Fixed
                    ? $"  {l.Cell.Proposal} {l.Cell.Config} {l.Cell.Property} fixed [{l.Scenarios}] {l.Signature}"
                    : $"  {l.Cell.Proposal} {l.Cell.Config} {l.Cell.Property} {ChangeWord(l.First)}[{l.Scenarios}] {l.First.Headline}\n"
                      + $"      {l.Signature}; {l.Executions} executions; found by {l.FoundBy}\n      {l.First.Token}");
        }
        if (!verbose)
            foreach (var line in KeptSummary(results)) Console.WriteLine(line);
        Console.WriteLine($"\n{results.Cells.Count} cells in {results.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>On a terminal: a coloured, aligned Spectre table, the bounded runs, then the findings with their tokens (<see cref="Listed"/>).</summary>
    public static void Render(IAnsiConsole console, CheckResults results, bool verbose = false)
    {
        var table = new Table().Border(TableBorder.Rounded).BorderColor(Color.Grey);
        table.AddColumn(new TableColumn("[bold]proposal / config[/]"));
        foreach (var p in results.Properties) table.AddColumn(new TableColumn($"[bold]{Markup.Escape(p)}[/]").Centered());
        table.AddColumn(new TableColumn("[bold]executions[/]").RightAligned());
        foreach (var row in results.Cells.GroupBy(c => (c.Proposal, c.Config)))
        {
            var columns = new List<string> { $"{Markup.Escape(row.Key.Proposal)} [grey]{Markup.Escape(row.Key.Config)}[/]" };
            foreach (var p in results.Properties)
            {
                var c = row.First(x => x.Property == p);
                columns.Add(c.Verdict switch
                {
                    "holds" => $"[green]{Markup.Escape(c.Mark)}[/]",
                    "bounded" => $"[yellow]{Markup.Escape(c.Mark)}[/]",
                    "unknown" => $"[black on yellow] {Markup.Escape(c.Mark)} [/]",
                    _ when c.New.Any() => $"[bold white on red]{Markup.Escape(c.Mark)}[/]",
                    _ => $"[red]{Markup.Escape(c.Mark)}[/]",
                });
            }
            var any = row.First();
            columns.Add($"{any.Executions:N0} [grey]({(any.Exhaustive ? "exhaustive" : "bounded")})[/]");
            table.AddRow(columns.ToArray());
        }
        console.Write(table);
        console.MarkupLine(Markup.Escape(results.Legend));
        var bounded = Bounded(results).ToList();
        if (bounded.Count > 0)
        {
            console.MarkupLine("[yellow]Bounded runs[/] (nothing they did not find is proven absent):");
            foreach (var (row, b) in bounded) console.MarkupLine($"  {Markup.Escape(row)} [grey][[{Markup.Escape(b.Scenario)}]][/] bounded: {Markup.Escape(b.Text)}");
        }
        var listed = Listed(results, verbose).ToList();
        if (listed.Count > 0)
        {
            console.MarkupLine("Findings, each with the token that replays it ([bold]lockstep explain TOKEN[/]); fixed: the baseline's, listed with its row:");
            foreach (var l in listed)
            {
                var cell = $"  {Markup.Escape(l.Cell.Proposal)} {Markup.Escape(l.Cell.Config)} [red]{Markup.Escape(l.Cell.Property)}[/]";
                var where = $"[grey][[{Markup.Escape(l.Scenarios)}]][/]";
                console.MarkupLine(l.Change switch
                {
                    Change.Fixed => $"{cell} [green]fixed[/] {where} {Markup.Escape(l.Signature)}",
                    var change => $"{cell} {(change == Change.New ? "[bold white on red]new[/] " : change == Change.Kept ? "kept " : "")}{where} {Markup.Escape(l.First.Headline)}\n"
                        + $"      [grey]{Markup.Escape(l.Signature)}; {l.Executions:N0} executions; found by {Markup.Escape(l.FoundBy)}[/]\n      [blue]{Markup.Escape(l.First.Token)}[/]",
                });
            }
        }
        if (!verbose)
            foreach (var line in KeptSummary(results)) console.MarkupLine($"[grey]{Markup.Escape(line)}[/]");
        console.MarkupLine($"\n{results.Cells.Count} cells in {results.Elapsed.TotalSeconds:0.0} s");
    }

    /// <summary>--verbose: every finding's kernel-log report in full.</summary>
    public static void Reports(CheckResults results)
    {
        foreach (var c in results.Cells)
            foreach (var f in c.All)
            {
                Console.WriteLine($"\n---- {c.Proposal} {c.Config} {c.Property} {ChangeWord(f)}[{f.Scenario}] {f.Token}");
                Console.WriteLine(f.Report.TrimEnd());
            }
    }
}
