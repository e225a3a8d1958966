using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Models.Proposals;
using Lockstep.Models.Scenarios;

namespace Lockstep.Reporting;

/// <summary>
/// Shard <see cref="Index"/> of <see cref="Count"/> (0 ≤ index &lt; count) of a check. The partition depends only on the
/// runs the options select, never on timing or on --jobs: with the runs ordered by row, scenario, then config, the k-th
/// is shard k mod count's. A scenario costs about the same under each config (in the built-in suite the two longest runs
/// are one row's oom-reap-vs-exit under default and rt), so its runs go to different shards.
/// </summary>
public sealed record ShardId(int Index, int Count)
{
    public override string ToString() => $"{Index}/{Count}";

    /// <summary>Whether the run of the <paramref name="row"/>-th row, <paramref name="config"/>-th config and <paramref name="scenario"/>-th scenario is this shard's.</summary>
    public bool Owns(int row, int config, int scenario, int configs, int scenarios) => ((row * scenarios + scenario) * configs + config) % Count == Index;
}

/// <summary>
/// A shard's result (`check --shard I/N --json FILE`): the check's JSON (schema 2) for the shard's own runs, plus
/// "shard" { index, count, options, fingerprint, jobs } and every run in full ("runs"), from which `lockstep merge`
/// tallies the whole check exactly as one process would. <see cref="Options"/> are the check's options in canonical form
/// (without --shard, --jobs and the output options), <see cref="Fingerprint"/> the model's over all the check's runs,
/// <see cref="Jobs"/> the shard's runs as "proposal/config/scenario".
/// </summary>
public sealed record ShardFile(string Path, ShardId Shard, IReadOnlyList<string> Options, string Fingerprint, IReadOnlyList<string> Jobs,
    TimeSpan Elapsed, IReadOnlyList<ShardFile.RunJson> Runs)
{
    public sealed record ShardJson(int Index, int Count, List<string> Options, string Fingerprint, List<string> Jobs);

    public sealed record RunJson(string Proposal, string Config, string Scenario, string Strategy, long Executions, long Pruned, long Steps,
        bool Exhaustive, string? StoppedBy, FallbackJson? Fallback, double ElapsedSeconds, string? ModelError, List<FindingJson> Findings)
    {
        public string Job => JobName(Proposal, Config, Scenario);
    }

    public sealed record FallbackJson(string Strategy, long Executions, long Steps, string? StoppedBy);

    public sealed record FindingJson(string Property, string Kind, string Signature, string Headline, string Report, string Token, long Executions, string FoundBy);

    private sealed record Document(string Tool, ShardJson Shard, double ElapsedSeconds, List<RunJson> Runs);

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        RespectNullableAnnotations = true,
        RespectRequiredConstructorParameters = true,
        WriteIndented = true,
    };

    public static string JobName(string proposal, string config, string scenario) => $"{proposal}/{config}/{scenario}";

    /// <summary>The shard's file: <paramref name="results"/> (its own runs tallied) as --json writes them, with the shard and its runs.</summary>
    public static string Render(ShardId shard, IReadOnlyList<string> options, string fingerprint, IReadOnlyList<ScenarioRun> runs, CheckResults results)
    {
        var doc = JsonReport.Document(results);
        var records = runs.Select(Record).ToList();
        doc["shard"] = JsonSerializer.SerializeToNode(new ShardJson(shard.Index, shard.Count, options.ToList(), fingerprint, records.Select(r => r.Job).ToList()), Json);
        doc["runs"] = JsonSerializer.SerializeToNode(records, Json);
        return doc.ToJsonString(Json);
    }

    /// <summary>Reads a shard's file.</summary>
    /// <exception cref="FormatException">It is not a shard's result (not JSON, not Lockstep's, made without --shard, cut short).</exception>
    public static ShardFile Read(string path)
    {
        Document doc;
        try
        {
            doc = JsonSerializer.Deserialize<Document>(File.ReadAllText(path), Json) ?? throw new JsonException("null");
        }
        catch (JsonException e)
        {
            throw new FormatException($"{path} is not the result of a lockstep check --shard: {e.Message.Split('\n')[0]}");
        }
        if (doc.Tool != "lockstep") throw new FormatException($"{path} is not the result of a lockstep check --shard (tool '{doc.Tool}')");
        var s = doc.Shard;
        if (s.Count < 1 || s.Index < 0 || s.Index >= s.Count) throw new FormatException($"{path}: shard {s.Index}/{s.Count} is not an index 0..{s.Count - 1} of {s.Count}");
        if (!doc.Runs.Select(r => r.Job).SequenceEqual(s.Jobs)) throw new FormatException($"{path}: its runs are not the jobs it names");
        return new ShardFile(path, new ShardId(s.Index, s.Count), s.Options, s.Fingerprint, s.Jobs, TimeSpan.FromSeconds(doc.ElapsedSeconds), doc.Runs);
    }

    private static RunJson Record(ScenarioRun run)
    {
        var e = run.Exploration;
        return new RunJson(run.Proposal.Id, run.Config.Name, run.Scenario.Id, e.Strategy, e.Executions, e.Pruned, e.Steps, e.Exhaustive, e.StoppedBy,
            e.Fallback is { } f ? new FallbackJson(f.Strategy, f.Executions, f.Steps, f.StoppedBy) : null, e.Elapsed.TotalSeconds, run.ModelError,
            run.Findings.Select(x => new FindingJson(x.Property, x.Violation.Kind, x.Signature, x.Violation.Message, x.Violation.Render(), x.Token, x.Executions, x.FoundBy)).ToList());
    }

    /// <summary>A run of the file as the check made it, for the proposal, config and scenario it names.</summary>
    public static ScenarioRun Run(RunJson r, Proposal proposal, KernelConfig config, Scenario scenario)
    {
        var findings = r.Findings.Select(f => new Finding(f.Property, new RecordedViolation(f.Kind, f.Headline, f.Signature, f.Report), f.Token, f.Executions, f.FoundBy)).ToList();
        var exploration = new ExplorationResult(r.Strategy, r.Executions, r.Pruned, r.Steps, r.Exhaustive, r.StoppedBy, TimeSpan.FromSeconds(r.ElapsedSeconds),
            findings.Select(f => f.Violation).DistinctBy(v => v.Key).ToList())
        {
            Fallback = r.Fallback is { } f ? new FallbackRun(f.Strategy, f.Executions, f.Steps, f.StoppedBy) : null,
        };
        return new ScenarioRun(proposal, config, scenario, exploration, findings, r.ModelError);
    }

    /// <summary>A finding's report as a shard recorded it: its kind, headline, signature and full text.</summary>
    private sealed class RecordedViolation(string kind, string message, string key, string report) : Violation(kind, message)
    {
        public override string Key => key;

        public override string Render() => report;
    }
}
