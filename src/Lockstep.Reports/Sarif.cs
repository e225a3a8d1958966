using System.Text.Json;
using System.Text.Json.Nodes;
using Lockstep.Models;

namespace Lockstep.Reporting;

/// <summary>
/// SARIF 2.1.0 for code-scanning UIs: one result per violated proposal × config × property, the rule its property, the
/// location the modelled kernel file and the innermost modelled function of the reporting task.
/// </summary>
public static class Sarif
{
    public const string SchemaUri = "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json";

    /// <summary>Where a violated cell points: its function and kernel file (either may be unknown).</summary>
    public delegate (string? Function, string? File) Locator(Cell cell);

    /// <summary>
    /// Locates a cell by its replayed trace: the report of the cell's property (and headline) there, its reporting task's
    /// innermost modelled function and that function's kernel file.
    /// </summary>
    public static Locator FromTraces(IReadOnlyDictionary<string, ExplainedTrace> traces) => cell =>
    {
        if (cell.Token == null || !traces.TryGetValue(cell.Token, out var trace)) return (null, null);
        var finding = trace.Findings.FirstOrDefault(f => f.Properties.Contains(cell.Property) && f.Headline == cell.Headline)
                      ?? trace.Findings.FirstOrDefault(f => f.Properties.Contains(cell.Property));
        return finding == null ? (null, null) : KernelSources.Locate(finding.Stack);
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
        foreach (var c in run.Violated)
        {
            var (function, file) = locate(c);
            var basis = file != null ? "the innermost modelled function of the reporting task" : "the file the property is about";
            file ??= Properties.Get(c.Property).KernelFile;   // code scanning wants a file
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
                    ["fullyQualifiedName"] = file != null ? $"{file}:{function}" : function,
                    ["kind"] = "function",
                });
            location["message"] = new JsonObject { ["text"] = $"{c.Proposal} on {c.Config}, scenario {c.Scenario}; located at {basis}" };
            var ruleIndex = run.Properties.ToList().IndexOf(c.Property);
            var result = new JsonObject
            {
                ["ruleId"] = c.Property,
                ["level"] = "error",
                ["message"] = new JsonObject { ["text"] = c.Headline ?? c.Property },
                ["locations"] = new JsonArray(location),
                ["partialFingerprints"] = new JsonObject { ["lockstepCell/v1"] = $"{c.Proposal}/{c.Config}/{c.Property}/{c.Headline}" },
                ["properties"] = new JsonObject
                {
                    ["token"] = c.Token,
                    ["replay"] = $"lockstep explain {c.Token}",
                    ["proposal"] = c.Proposal,
                    ["config"] = c.Config,
                    ["scenario"] = c.Scenario,
                    ["executions"] = c.Executions,
                    ["exhaustive"] = c.Exhaustive,
                    ["report"] = c.Report,
                },
            };
            if (ruleIndex >= 0) result["ruleIndex"] = ruleIndex;
            results.Add(result);
        }
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
                ["properties"] = new JsonObject { ["elapsed_seconds"] = Math.Round(run.Elapsed.TotalSeconds, 3), ["cells"] = run.Cells.Count },
            }),
        };
        return log.ToJsonString(new JsonSerializerOptions { WriteIndented = true }) + "\n";
    }

    /// <summary>
    /// Where a report with no modelled function on its task's stack (e.g. a check the scenario makes once every task is
    /// done) is filed: the kernel file whose code the property is about.
    /// </summary>
    /// <summary>A rule's name in SARIF's PascalCase style from its description's leading words.</summary>
    private static string RuleName(string text)
    {
        var head = text.Split(':')[0];
        var words = head.Split(new[] { ' ', '-', '/', ',', '>' }, StringSplitOptions.RemoveEmptyEntries);
        return string.Concat(words.Select(w => char.ToUpperInvariant(w[0]) + w[1..]).Where(w => w.All(char.IsLetterOrDigit)));
    }
}
