using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Models;

namespace Lockstep.Reporting;

/// <summary>
/// SARIF 2.1.0 for code-scanning UIs: one result per distinct finding of each proposal × config × property, the rule
/// its property, the location the modelled kernel file and the innermost modelled function of the reporting task. With a
/// baseline, each result has its baselineState (§3.27.24): new, unchanged (kept), or absent (the baseline's finding
/// that the proposal fixed, with the baseline's token).
/// </summary>
public static class Sarif
{
    public const string SchemaUri = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

    /// <summary>Where a finding of a property points: its function and kernel file (either may be unknown).</summary>
    public delegate (string? Function, string? File) Locator(string property, CellFinding finding);

    /// <summary>
    /// Locates a finding by its replayed trace: the report of that property and signature there, its reporting task's
    /// innermost modelled function and that function's kernel file.
    /// </summary>
    public static Locator FromTraces(IReadOnlyDictionary<string, ExplainedTrace> traces) => (property, finding) =>
    {
        if (!traces.TryGetValue(finding.Token, out var trace)) return (null, null);
        var report = trace.Findings.FirstOrDefault(f => f.Properties.Contains(property) && f.Signature == finding.Signature);
        return report == null ? (null, null) : KernelSources.Locate(report.Stack);
    };

    /// <summary>The SARIF log of a check run.</summary>
    public static string Render(CheckResults run, Locator locate, string toolVersion)
    {
        var rules = new JsonArray();
        foreach (var p in run.Properties)
        {
            var text = Lockstep.Models.Properties.All.TryGetValue(p, out var t) ? t : p;
            rules.Add(new JsonObject
            {
                ["id"] = p,
                ["name"] = RuleName(text),
                ["shortDescription"] = new JsonObject { ["text"] = text },
                ["fullDescription"] = new JsonObject { ["text"] = $"{p}: {text} (Lockstep property catalogue, KERNEL-FACTS §6.1)" },
                ["defaultConfiguration"] = new JsonObject { ["level"] = "error" },
                ["properties"] = new JsonObject { ["tags"] = new JsonArray(p.StartsWith('L') ? "liveness" : "safety", "locking") },
            });
        }
        var results = new JsonArray();
        foreach (var c in run.Cells)
            foreach (var f in c.All)
                results.Add(Result(run, c, f, locate));
        var log = new JsonObject
        {
            ["$schema"] = SchemaUri,
            ["version"] = "2.1.0",
            ["runs"] = new JsonArray(new JsonObject
            {
                ["tool"] = new JsonObject
                {
                    ["driver"] = new JsonObject
                    {
                        ["name"] = "lockstep",
                        ["version"] = toolVersion,
                        ["rules"] = rules,
                    },
                },
                ["originalUriBaseIds"] = new JsonObject
                {
                    ["KERNEL_SRC"] = new JsonObject { ["description"] = new JsonObject { ["text"] = "The root of the Linux kernel source tree the model mirrors." } },
                },
                ["results"] = results,
                ["properties"] = new JsonObject
                {
                    ["elapsed_seconds"] = Math.Round(run.Elapsed.TotalSeconds, 3),
                    ["cells"] = run.Cells.Count,
                    ["boundedCells"] = run.Cells.Count(c => c.Verdict == "bounded"),
                    ["baseline"] = run.Baseline,
                },
            }),
        };
        return log.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    private static JsonObject Result(CheckResults run, Cell c, CellFinding f, Locator locate)
    {
        var (function, file) = locate(c.Property, f);
        // a report with no modelled function on its task's stack (e.g. a check the scenario makes once every task is
        // done) is filed under the kernel file whose code the property is about: code scanning wants a file
        var basis = file != null ? "the innermost modelled function of the reporting task" : "the file the property is about";
        file ??= Properties.Get(c.Property).KernelFile;
        var location = new JsonObject
        {
            ["physicalLocation"] = new JsonObject
            {
                ["artifactLocation"] = new JsonObject { ["uri"] = file, ["uriBaseId"] = "KERNEL_SRC" },
            },
        };
        if (function != null)
            location["logicalLocations"] = new JsonArray(new JsonObject
            {
                ["name"] = function,
                ["fullyQualifiedName"] = $"{file}:{function}",
                ["kind"] = "function",
            });
        var whose = f.Change == Change.Fixed ? $"{run.Baseline} (the baseline; {c.Proposal} fixed it)" : c.Proposal;
        location["message"] = new JsonObject { ["text"] = $"{whose} on {c.Config}, scenario {f.Scenario}; located at {basis}" };
        var ruleIndex = run.Properties.ToList().IndexOf(c.Property);
        var result = new JsonObject
        {
            ["ruleId"] = c.Property,
            ["level"] = f.Change == Change.Fixed ? "note" : "error",
            ["message"] = new JsonObject { ["text"] = f.Headline },
            ["locations"] = new JsonArray(location),
            ["partialFingerprints"] = new JsonObject { ["lockstepFinding/v1"] = $"{c.Proposal}/{c.Config}/{c.Property}/{f.Scenario}/{f.Signature}" },
            ["properties"] = new JsonObject
            {
                ["token"] = f.Token,
                ["replay"] = $"lockstep explain {f.Token}",
                ["proposal"] = c.Proposal,
                ["config"] = c.Config,
                ["scenario"] = f.Scenario,
                ["signature"] = f.Signature,
                ["executions"] = f.Executions,
                ["foundBy"] = f.FoundBy,
                ["cellExecutions"] = c.Executions,
                ["exhaustive"] = c.Exhaustive,
                ["report"] = f.Report,
            },
        };
        if (f.Change is { } change)
            result["baselineState"] = change switch { Change.New => "new", Change.Kept => "unchanged", _ => "absent" };
        if (ruleIndex >= 0) result["ruleIndex"] = ruleIndex;
        return result;
    }

    /// <summary>A rule's name in SARIF's PascalCase style from its description's leading words.</summary>
    private static string RuleName(string text)
    {
        var head = text.Split(':')[0];
        var words = head.Split(new[] { ' ', '-', '/', ',', '>' }, StringSplitOptions.RemoveEmptyEntries);
        return string.Concat(words.Select(w => char.ToUpperInvariant(w[0]) + w[1..]).Where(w => w.All(char.IsLetterOrDigit)));
    }
}
