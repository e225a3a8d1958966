using System.Runtime.CompilerServices;
using Lockstep.Cli;
using Lockstep.Cli.Commands;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Reporting;
using Lockstep.Tests.Reporting;

namespace Lockstep.Tests.Checking;

/// <summary>
/// The built-in suite under `lockstep check`'s defaults (DPOR, its PCT fallback, the proposals' budgets, compared with
/// mainline) gives the golden verdict matrix (every cell with its new/fixed marks, and which rows are exhaustive), and the
/// README's "Verdicts" block is that matrix.
/// </summary>
public class BuiltInMatrixTests
{
    [Fact]
    public void TheBuiltInSuiteGivesTheGoldenMatrixWhichTheReadmeShows()
    {
        var registry = Registry.WithBuiltIns();
        var jobs = (from p in registry.Proposals from c in Suite.Configs from s in registry.Scenarios select (p, c, s)).ToList();
        var none = new HashSet<string>();
        var budgets = StrategyOptions.Budgets(Options.Parse(Array.Empty<string>(), none, none), CheckCommand.DefaultExecutions);
        var runs = Suite.RunAll(registry, jobs, () => new DporStrategy(), budgets, Environment.ProcessorCount, TimeSpan.FromMinutes(5));
        var (results, modelErrors) = CheckResults.Tally(runs, Properties.Ids, CheckCommand.DefaultBaseline, TimeSpan.Zero);
        // Known model crash (issue 11, item 1): in defer-nonblock-work-eagain's bounded oom-reap-vs-exit runs, the PCT that spends
        // the rest of the budget finds the deferred worker walking kvm->gpc_list (a plain C# list, invisible to DPOR) while
        // kvm_destroy_vm clears it. Until the model makes that state engine-visible, those two runs are model errors ("?").
        Assert.Equal(2, modelErrors.Count);
        Assert.Equal(new[] { "defer-nonblock-work-eagain/default/oom-reap-vs-exit", "defer-nonblock-work-eagain/rt/oom-reap-vs-exit" },
            runs.Where(r => r.ModelError != null).Select(r => $"{r.Proposal.Id}/{r.Config.Name}/{r.Scenario.Id}"));
        Assert.All(runs.Where(r => r.ModelError != null), r => Assert.Contains("Collection was modified", r.ModelError));
        var table = Matrix.Table(results);
        Golden.Check("builtin-matrix.txt", table);
        Assert.Contains(table.Replace("\r\n", "\n"), File.ReadAllText(Readme()).Replace("\r\n", "\n"));
    }

    private static string Readme([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "README.md");
}
