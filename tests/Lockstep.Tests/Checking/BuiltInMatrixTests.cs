using System.Runtime.CompilerServices;
using Lockstep.Cli;
using Lockstep.Cli.Commands;
using Lockstep.Engine;
using Lockstep.Kernel;
using Lockstep.Models;
using Lockstep.Reporting;
using Lockstep.Tests.Reporting;

namespace Lockstep.Tests.Checking;

/// <summary>The built-in suite explored by DPOR under `lockstep check`'s defaults (its budgets and saturation rule), once for the tests that read it.</summary>
public sealed class BuiltInRuns
{
    public BuiltInRuns()
    {
        Registry = Registry.WithBuiltIns();
        Jobs = (from p in Registry.Proposals from c in Suite.Configs from s in Registry.Scenarios select (p, c, s)).ToList();
        var none = new HashSet<string>();
        var defaults = Options.Parse(Array.Empty<string>(), none, none);
        Budgets = StrategyOptions.Budgets(defaults, CheckCommand.DefaultExecutions);
        Dpor = Suite.RunAll(Registry, Jobs, () => new DporStrategy(), Budgets, Environment.ProcessorCount, TimeSpan.FromMinutes(5),
            saturation: StrategyOptions.Saturation(defaults));
    }

    public Registry Registry { get; }

    public IReadOnlyList<(Lockstep.Models.Proposals.Proposal Proposal, KernelConfig Config, Lockstep.Models.Scenarios.Scenario Scenario)> Jobs { get; }

    /// <summary>`check`'s default budgets, per proposal.</summary>
    public Func<Lockstep.Models.Proposals.Proposal, ExplorationOptions> Budgets { get; }

    /// <summary>One run per job, in job order.</summary>
    public IReadOnlyList<ScenarioRun> Dpor { get; }
}

[CollectionDefinition("built-in runs")]
public sealed class BuiltInRunsCollection : ICollectionFixture<BuiltInRuns>;

/// <summary>
/// The built-in suite under `lockstep check`'s defaults (DPOR, its PCT fallback, the proposals' budgets, compared with
/// mainline) gives the golden verdict matrix (every cell with its new/fixed marks, and which rows are exhaustive), and the
/// README's "Verdicts" block is that matrix.
/// </summary>
[Collection("built-in runs")]
public class BuiltInMatrixTests(BuiltInRuns builtIn)
{
    [Fact]
    public void TheBuiltInSuiteGivesTheGoldenMatrixWhichTheReadmeShows()
    {
        var (results, modelErrors) = CheckResults.Tally(builtIn.Dpor, Properties.Ids, CheckCommand.DefaultBaseline, TimeSpan.Zero);
        Assert.Empty(modelErrors);
        var table = Matrix.Table(results);
        Golden.Check("builtin-matrix.txt", table);
        Assert.Contains(table.Replace("\r\n", "\n"), File.ReadAllText(Readme()).Replace("\r\n", "\n"));
    }

    private static string Readme([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "README.md");
}

/// <summary>
/// DPOR against random and PCT on every built-in proposal × config × scenario (issue 11): with a fixed seed and a
/// modest number of executions each, every distinct finding (kind and detail) a random or PCT run makes is one that
/// DPOR made too, wherever DPOR explored the cell completely (a bounded cell proves nothing; they are counted).
/// </summary>
[Collection("built-in runs")]
public class BuiltInDifferentialTests(BuiltInRuns builtIn)
{
    [Theory]
    [InlineData("random")]
    [InlineData("pct")]
    public void DporFindsEverythingRandomAndPctFind(string strategy)
    {
        const long executions = 300;
        var options = new ExplorationOptions { MaxExecutions = executions, Shrink = false, MaxSteps = builtIn.Budgets(builtIn.Jobs[0].Proposal).MaxSteps };
        var other = Suite.RunAll(builtIn.Registry, builtIn.Jobs,
            () => strategy == "random" ? new RandomStrategy(11, executions) : new PctStrategy(11, 3, executions), _ => options, Environment.ProcessorCount, TimeSpan.FromMinutes(5));
        var compared = 0;
        var missed = new List<string>();
        for (var i = 0; i < builtIn.Jobs.Count; i++)
        {
            var dpor = builtIn.Dpor[i];
            if (!dpor.Exploration.Exhaustive) continue;
            compared++;
            var byDpor = dpor.Exploration.Violations.Select(v => v.Key).ToHashSet();
            foreach (var v in other[i].Exploration.Violations.Where(v => !byDpor.Contains(v.Key)))
                missed.Add($"{dpor.Proposal.Id} {dpor.Config.Name} {dpor.Scenario.Id}: {v.Key} ({v.Message})");
        }
        Assert.Empty(missed);
        Assert.True(compared >= 100, $"only {compared} of {builtIn.Jobs.Count} cells were exhaustive");
    }
}
