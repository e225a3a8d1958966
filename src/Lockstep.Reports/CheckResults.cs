using System.Text.Json;
using Lockstep.Engine;
using Lockstep.Models;

namespace Lockstep.Reporting;

/// <summary>
/// One distinct finding of a cell: the scenario that found it, its signature (<see cref="Finding.Signature"/>), the
/// report, the token of one execution that reports it, how many explored executions reported it, the strategy that first
/// found it, and how it stands against the baseline (null: no baseline). A fixed one is the baseline's, with its token.
/// </summary>
public sealed record CellFinding(string Scenario, string Signature, string Headline, string Report, string Token, long Executions,
    string FoundBy, Change? Change);

/// <summary>
/// A scenario run that did not cover every schedule: its strategy stopped at a budget (or had a bound of its own, such as
/// a preemption bound), and what the fallback strategy ran after it.
/// </summary>
public sealed record BoundedRun(string Scenario, string Strategy, long Executions, string? StoppedBy, FallbackRun? Fallback)
{
    /// <summary>"dpor stopped at the step budget after 5210 executions; pct(d=3, seed=1) ran 1304 more (to saturation)".</summary>
    public string Text
    {
        get
        {
            var text = StoppedBy != null ? $"{Strategy} stopped at {At(StoppedBy)} after {Executions} executions"
                : $"{Strategy} covered only what its bounds allow, in {Executions} executions";
            if (Fallback != null)
                text += $"; {Fallback.Strategy} ran {Fallback.Executions} more" + (Fallback.StoppedBy != null ? $" (to {At(Fallback.StoppedBy)})" : "");
            return text;
        }
    }

    /// <summary>"the step budget", "the time limit", ..., or "saturation" (<see cref="Saturation"/>: nothing new for a while).</summary>
    public static string At(string stoppedBy) => stoppedBy == Saturation.Reason ? stoppedBy : $"the {stoppedBy}";
}

/// <summary>
/// One proposal × config × property verdict of `lockstep check`: holds (every scenario explored completely, nothing
/// found), bounded (nothing found, but some scenario run stopped at a budget: not a proof), violated, or unknown (a model
/// error and nothing found). <see cref="Findings"/> are every distinct finding over the row's scenarios,
/// <see cref="Fixed"/> the baseline's findings of this property that this proposal does not have.
/// </summary>
public sealed record Cell(string Proposal, string Config, string Property, string Verdict, long Executions, bool Exhaustive,
    IReadOnlyList<CellFinding> Findings, IReadOnlyList<CellFinding> Fixed, IReadOnlyList<BoundedRun> Bounded)
{
    public IEnumerable<CellFinding> New => Findings.Where(f => f.Change == Change.New);

    public IEnumerable<CellFinding> Kept => Findings.Where(f => f.Change == Change.Kept);

    /// <summary>The findings to show for the cell: its own, then the baseline's it fixed.</summary>
    public IEnumerable<CellFinding> All => Findings.Concat(Fixed);

    /// <summary>
    /// The cell in the matrix: ok (holds), bd (bounded: nothing found, not a proof), XX (violated), ? (unknown); then +N
    /// when N signatures are new against the baseline, -N when N of the baseline's signatures are fixed.
    /// </summary>
    public string Mark
    {
        get
        {
            var mark = Verdict switch { "holds" => "ok", "bounded" => "bd", "violated" => "XX", _ => "?" };
            var added = New.Select(f => f.Signature).Distinct().Count();
            var removed = Fixed.Select(f => f.Signature).Distinct().Count();
            return mark + (added > 0 ? $"+{added}" : "") + (removed > 0 ? $"-{removed}" : "");
        }
    }
}

/// <summary>
/// A whole check run: its cells (proposal × config rows, property columns), the baseline proposal they are compared with
/// (null: none), and how long it took.
/// </summary>
public sealed record CheckResults(IReadOnlyList<Cell> Cells, IReadOnlyList<string> Properties, string? Baseline, TimeSpan Elapsed)
{
    public IEnumerable<Cell> Violated => Cells.Where(c => c.Verdict == "violated");

    /// <summary>What the matrix's marks mean (<see cref="Cell.Mark"/>).</summary>
    public string Legend
        => "ok = holds (every scenario explored completely), bd = bounded (nothing found, but a run stopped at its budget: not a proof), "
           + "XX = violated, ? = unknown (model error)"
           + (Baseline != null ? $"; +N = N findings that {Baseline} does not have (new), -N = N of {Baseline}'s findings gone (fixed)." : ".");

    /// <summary>
    /// The matrix of a check's runs: a cell per proposal × config × property with every distinct finding of the row's
    /// scenarios, each compared with the <paramref name="baseline"/> proposal's run of the same config and scenario (when
    /// one is given and has that run; the baseline's own rows are not compared); and the model errors.
    /// </summary>
    public static (CheckResults Results, IReadOnlyList<string> ModelErrors) Tally(IReadOnlyList<ScenarioRun> runs, IReadOnlyList<string> properties,
        string? baseline, TimeSpan elapsed)
    {
        var baselineRuns = runs.Where(r => r.Proposal.Id == baseline).ToDictionary(r => (r.Config.Name, r.Scenario.Id));
        var cells = new List<Cell>();
        var modelErrors = new List<string>();
        foreach (var row in runs.GroupBy(r => (r.Proposal, r.Config)))
        {
            var (p, c) = row.Key;
            foreach (var run in row)
                if (run.ModelError != null) modelErrors.Add($"model error in {p.Id}/{c.Name}/{run.Scenario.Id}: {run.ModelError}");
            var executions = row.Sum(r => r.Exploration.TotalExecutions);
            var exhaustive = row.All(r => r.Exploration.Exhaustive);
            var bounded = row.Where(r => !r.Exploration.Exhaustive && r.ModelError == null)
                .Select(r => new BoundedRun(r.Scenario.Id, r.Exploration.Strategy, r.Exploration.Executions, r.Exploration.StoppedBy, r.Exploration.Fallback))
                .ToList();
            var found = new List<(string Property, CellFinding Finding)>();
            var fixedOnes = new List<(string Property, CellFinding Finding)>();
            foreach (var run in row)
            {
                if (p.Id != baseline && baselineRuns.TryGetValue((c.Name, run.Scenario.Id), out var before))
                {
                    var comparison = Comparison.Of(run, before);
                    found.AddRange(comparison.Findings.Select(x => (x.Finding.Property, Of(run, x.Finding, x.Change))));
                    fixedOnes.AddRange(comparison.Fixed.Select(f => (f.Property, Of(before, f, Change.Fixed))));
                }
                else
                    found.AddRange(run.Findings.Select(f => (f.Property, Of(run, f, null))));
            }
            var unknown = row.Any(r => r.ModelError != null);
            foreach (var prop in properties)
            {
                var findings = found.Where(x => x.Property == prop).Select(x => x.Finding).ToList();
                var verdict = findings.Count > 0 ? "violated" : unknown ? "unknown" : exhaustive ? "holds" : "bounded";
                cells.Add(new Cell(p.Id, c.Name, prop, verdict, executions, exhaustive, findings,
                    fixedOnes.Where(x => x.Property == prop).Select(x => x.Finding).ToList(), bounded));
            }
        }
        return (new CheckResults(cells, properties, baseline, elapsed), modelErrors);
    }

    private static CellFinding Of(ScenarioRun run, Finding f, Change? change)
        => new(run.Scenario.Id, f.Signature, f.Violation.Message, f.Violation.Render(), f.Token, f.Executions, f.FoundBy, change);
}

/// <summary>
/// The stable JSON schema of --json (schema 2): { tool, schema, baseline, elapsed_seconds, results: [ { proposal, config,
/// property, verdict (holds|bounded|violated|unknown), executions, exhaustive, bounded: [ { scenario, strategy,
/// executions, stopped_by, fallback: { strategy, executions, stopped_by } | null, text } ], findings: [ finding ],
/// new: [ signature ], kept: [ signature ], fixed: [ finding ] } ] }, a finding being { scenario, signature, change
/// (new|kept|fixed|null), headline, token, executions, found_by, report }.
/// </summary>
public static class JsonReport
{
    public const int Schema = 2;

    public static string Render(CheckResults run) => Document(run).ToJsonString(new JsonSerializerOptions { WriteIndented = true });

    /// <summary>The document <see cref="Render"/> writes, for a writer that adds members (a shard's file).</summary>
    public static System.Text.Json.Nodes.JsonObject Document(CheckResults run)
    {
        var doc = new
        {
            tool = "lockstep",
            schema = Schema,
            baseline = run.Baseline,
            elapsed_seconds = Math.Round(run.Elapsed.TotalSeconds, 3),
            results = run.Cells.Select(c => new
            {
                proposal = c.Proposal, config = c.Config, property = c.Property, verdict = c.Verdict,
                executions = c.Executions, exhaustive = c.Exhaustive,
                bounded = c.Bounded.Select(b => new
                {
                    scenario = b.Scenario, strategy = b.Strategy, executions = b.Executions, stopped_by = b.StoppedBy,
                    fallback = b.Fallback is { } f ? new { strategy = f.Strategy, executions = f.Executions, stopped_by = f.StoppedBy } : null,
                    text = b.Text,
                }),
                findings = c.Findings.Select(Finding),
                @new = c.New.Select(f => f.Signature).Distinct(),
                kept = c.Kept.Select(f => f.Signature).Distinct(),
                @fixed = c.Fixed.Select(Finding),
            }),
        };
        return JsonSerializer.SerializeToNode(doc)!.AsObject();
    }

    private static object Finding(CellFinding f) => new
    {
        scenario = f.Scenario, signature = f.Signature, change = ChangeName(f.Change), headline = f.Headline, token = f.Token,
        executions = f.Executions, found_by = f.FoundBy, report = f.Report,
    };

    /// <summary>"new", "kept", "fixed", or null without a baseline.</summary>
    public static string? ChangeName(Change? change) => change?.ToString().ToLowerInvariant();
}
