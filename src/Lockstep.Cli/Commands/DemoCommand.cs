using Lockstep.Engine;

namespace Lockstep.Cli.Commands;

/// <summary>lockstep demo: the engine on its own programs, with known answers. One line per program.</summary>
public static class DemoCommand
{
    public static int Run(string[] args)
    {
        var o = Options.Parse(args, new HashSet<string>(StrategyOptions.Names), new HashSet<string>());
        if (o.Positional.Count > 0) throw new UsageException($"unexpected argument '{o.Positional[0]}'");
        var strategy = StrategyOptions.Factory(o, 10_000);
        var options = StrategyOptions.Exploration(o, 1_000_000);
        foreach (var demo in DemoPrograms.All)
        {
            var r = Explorer.Explore(demo.Model(), strategy(), options);
            var verdict = r.Violations.Count == 0 ? "holds" : $"violated: {r.Violations[0].Message}  token {r.Violations[0].Token}";
            Console.WriteLine($"{demo.Display,-28} {r.Executions,8} executions ({(r.Exhaustive ? "exhaustive" : "bounded")})  {verdict}");
        }
        return 0;
    }
}
