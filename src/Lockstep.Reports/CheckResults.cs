using System.Text.Json;

namespace Lockstep.Reporting;

/// <summary>One proposal × config × property verdict of `lockstep check`.</summary>
public sealed record Cell(string Proposal, string Config, string Property, string Verdict, long Executions, bool Exhaustive,
    string? Token, string? Scenario, string? Report, string? Headline);

/// <summary>A whole check run: its cells (proposal × config rows, property columns) and how long it took.</summary>
public sealed record CheckResults(IReadOnlyList<Cell> Cells, IReadOnlyList<string> Properties, TimeSpan Elapsed)
{
    public IEnumerable<Cell> Violated => Cells.Where(c => c.Verdict == "violated");
}

/// <summary>
/// The stable JSON schema of --json: { tool, schema: 1, elapsed_seconds, results: [ {proposal, config, property, verdict,
/// executions, exhaustive, token, scenario, headline, report} ] }.
/// </summary>
public static class JsonReport
{
    public static string Render(CheckResults run)
    {
        var doc = new
        {
            tool = "lockstep",
            schema = 1,
            elapsed_seconds = Math.Round(run.Elapsed.TotalSeconds, 3),
            results = run.Cells.Select(c => new
            {
                proposal = c.Proposal, config = c.Config, property = c.Property, verdict = c.Verdict,
                executions = c.Executions, exhaustive = c.Exhaustive, token = c.Token, scenario = c.Scenario,
                headline = c.Headline, report = c.Report,
            }),
        };
        return JsonSerializer.Serialize(doc, new JsonSerializerOptions { WriteIndented = true });
    }
}
