using Lockstep.Models;

namespace Lockstep.Cli.Commands;

public static class ListCommand
{
    public static int Run()
    {
        Console.WriteLine("proposals:");
        foreach (var p in Lockstep.Models.Proposals.Catalog.All) Console.WriteLine($"  {p.Id,-28} {p.Title}  [{p.Source}]");
        Console.WriteLine("configs:");
        foreach (var c in Suite.Configs) Console.WriteLine($"  {c.Describe()}");
        Console.WriteLine("scenarios:");
        foreach (var s in Lockstep.Models.Scenarios.Catalog.All) Console.WriteLine($"  {s.Id,-22} {s.Description}");
        Console.WriteLine("properties:");
        foreach (var (id, text) in Properties.All) Console.WriteLine($"  {id}  {text}");
        return 0;
    }
}
