namespace Lockstep.Models;

/// <summary>
/// Justifies a plain mutable member of a model type: its object lives on one task's stack (a local of the kernel
/// function that makes it, e.g. struct mmu_notifier_range or struct mmu_gather), so no other task touches it. The
/// architecture test checks the claim: no model type stores an object of the member's type in a field.
/// </summary>
[AttributeUsage(AttributeTargets.Field)]
public sealed class PerTaskAttribute(string reason) : Attribute
{
    public string Reason { get; } = reason;
}
