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
/// The built-in suite under `lockstep check`'s defaults gives the golden verdict matrix (every cell, and which rows are
/// exhaustive), and the README's "Verdicts" block is that matrix.
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
        Assert.Empty(modelErrors);
        var table = Matrix.Table(results);
        Golden.Check("builtin-matrix.txt", table);
        Assert.Contains(table.Replace("\r\n", "\n"), File.ReadAllText(Readme()).Replace("\r\n", "\n"));
    }

    private static string Readme([CallerFilePath] string here = "") => Path.Combine(Path.GetDirectoryName(here)!, "..", "..", "..", "README.md");
}
