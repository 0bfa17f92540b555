#include "access/decision.hpp"

namespace carnet::access {

namespace {

Decision Allow(Basis basis, Notice notice = Notice::kNone, bool emergency = false) {
    Decision d;
    d.allow = true;
    d.basis = basis;
    d.reason = Reason::kAllowed;
    d.notice = notice;
    d.emergency = emergency;
    return d;
}

Decision Deny(Reason reason, Basis basis = Basis::kNone) {
    Decision d;
    d.allow = false;
    d.basis = basis;
    d.reason = reason;
    return d;
}

bool Hidden(const Target& t, int64_t now_us) { return t.hidden_from_patient_until_us > now_us; }

/// Data that belongs to no patient (the directory, terminology, organisations).
Decision DecideNonPatient(const DecisionInput& in) {
    const Actor& a = in.actor;
    Decision d;
    if (a.kind == ActorKind::kSystem) {
        d = Allow(Basis::kSystem);
    } else if (NeverContent(a)) {
        d = Deny(Reason::kNeverContent);
    } else if (in.action == Action::kRead) {
        d = Allow(Basis::kNotPatientData);
    } else if (a.kind == ActorKind::kProfessional &&
               (in.action == Action::kCreate || in.action == Action::kUpdate)) {
        // Professionals register what their documents point to (organisations, binaries).
        d = Allow(Basis::kNotPatientData);
    } else {
        d = Deny(Reason::kNotPermitted);
    }
    d.audit = false;
    return d;
}

/// The holder, a legal representative of a minor, a caregiver.
Decision DecidePatientSide(const DecisionInput& in) {
    const Actor& a = in.actor;
    const Relationship& r = in.rel;
    const Target& t = in.target;
    Basis basis = Basis::kNone;
    if (r.self) {
        basis = Basis::kSelf;
    } else if (r.representative) {
        basis = Basis::kRepresentative;
    } else if (r.caregiver) {
        basis = Basis::kCaregiver;
    } else {
        return Deny(Reason::kNoBasis);
    }
    const bool delegate = basis != Basis::kSelf;
    const bool closed = in.patient.status == "closed";
    switch (in.action) {
        case Action::kRead:
            if (Hidden(t, in.now_us)) return Deny(Reason::kHiddenFromPatient, basis);
            if (delegate && t.hidden_from_representatives)
                return Deny(Reason::kHiddenFromDelegates, basis);
            return Allow(basis);
        case Action::kCreate:
            if (closed) return Deny(Reason::kRecordReadOnly, basis);
            return Allow(basis);
        case Action::kUpdate:
        case Action::kDelete:
            if (closed) return Deny(Reason::kRecordReadOnly, basis);
            if (t.author_account.empty() || t.author_account != a.account_id)
                return Deny(Reason::kNotAuthor, basis);
            return Allow(basis);
        case Action::kExport:
        case Action::kReadAudit:
            if (basis == Basis::kCaregiver) return Deny(Reason::kNotPermitted, basis);
            return Allow(basis);
        case Action::kManage:
            if (basis == Basis::kCaregiver) return Deny(Reason::kNotPermitted, basis);
            if (closed) return Deny(Reason::kRecordReadOnly, basis);
            return Allow(basis);
        case Action::kMessage:
            if (closed) return Deny(Reason::kRecordReadOnly, basis);
            return Allow(basis);
        case Action::kOpenEmergency:
        case Action::kRedeemCode:
        case Action::kReleaseDocument:
            return Deny(Reason::kNotPermitted, basis);
    }
    return Deny(Reason::kNotPermitted, basis);
}

/// The ordinary basis of a professional (before emergency-only mode is applied).
Basis OrdinaryBasis(const Relationship& r) {
    if (r.medecin_traitant) return Basis::kMedecinTraitant;
    if (r.sage_femme_referente || r.pharmacien_correspondant || r.administrator)
        return Basis::kDesignated;
    if (r.authorised) return r.via_code ? Basis::kCode : Basis::kAuthorised;
    return Basis::kNone;
}

/// An emergency access in force, and still allowed by the holder's switches.
Basis EmergencyBasis(const DecisionInput& in) {
    const Relationship& r = in.rel;
    if (r.emergency_until_us <= in.now_us) return Basis::kNone;
    if (r.emergency_kind == Purpose::kEtreat) {
        return in.patient.etreat_enabled ? Basis::kEtreat : Basis::kNone;
    }
    if (r.emergency_kind == Purpose::kBtg) {
        return in.patient.btg_enabled ? Basis::kBtg : Basis::kNone;
    }
    return Basis::kNone;
}

Decision DecideProfessional(const Grid& grid, const DecisionInput& in) {
    const Actor& a = in.actor;
    const Relationship& r = in.rel;
    const Target& t = in.target;
    const PatientSettings& p = in.patient;
    // Step 4: a blocked professional is refused everything.
    if (r.blocked) return Deny(Reason::kBlocked);

    switch (in.action) {
        case Action::kExport:
        case Action::kManage:
            return Deny(Reason::kNotPermitted);
        case Action::kReadAudit:
            // Their own entries only (the caller filters on the actor).
            return Allow(Basis::kAuthor);
        case Action::kRedeemCode:
            if (p.emergency_only) return Deny(Reason::kEmergencyOnly);
            return Allow(Basis::kCode);
        case Action::kOpenEmergency:
            if (in.purpose == Purpose::kEtreat) {
                if (!p.etreat_enabled) return Deny(Reason::kEmergencyDisabled);
                if (!a.samu_regulator) return Deny(Reason::kNotRegulator);
                return Allow(Basis::kEtreat, Notice::kImmediate, true);
            }
            if (in.purpose == Purpose::kBtg) {
                if (!p.btg_enabled) return Deny(Reason::kEmergencyDisabled);
                if (!t.reason_given) return Deny(Reason::kNeedsReason);
                if (!a.fresh_auth) return Deny(Reason::kNeedsFreshAuth);
                return Allow(Basis::kBtg, Notice::kImmediate, true);
            }
            return Deny(Reason::kNotPermitted);
        case Action::kReleaseDocument:
            if (t.author_account.empty() || t.author_account != a.account_id)
                return Deny(Reason::kNotAuthor);
            return Allow(Basis::kAuthor);
        case Action::kRead:
        case Action::kCreate:
        case Action::kUpdate:
        case Action::kDelete:
        case Action::kMessage:
            break;
    }

    // Step 5: a basis. In emergency-only mode only an emergency access counts.
    const Basis ordinary = OrdinaryBasis(r);
    const Basis emergency = EmergencyBasis(in);
    Basis basis = Basis::kNone;
    if (p.emergency_only) {
        basis = emergency;
        if (basis == Basis::kNone) return Deny(Reason::kEmergencyOnly);
    } else {
        basis = ordinary != Basis::kNone ? ordinary : emergency;
        if (basis == Basis::kNone) return Deny(Reason::kNoBasis);
    }
    const bool by_emergency = basis == Basis::kEtreat || basis == Basis::kBtg;
    const Notice notice = by_emergency ? Notice::kImmediate : Notice::kCoalesced;

    // A message thread (target type Communication, its professional in author_account) is
    // between the holder's side and that one professional: no other professional reads it or
    // writes in it, whatever their basis.
    if (t.resource_type == "Communication" && t.author_account != a.account_id) {
        return Deny(Reason::kNotAuthor, basis);
    }
    if (in.action == Action::kMessage) return Allow(basis, notice, by_emergency);

    // Writes: only the author changes or deletes what they wrote.
    if ((in.action == Action::kUpdate || in.action == Action::kDelete) &&
        (t.author_account.empty() || t.author_account != a.account_id)) {
        return Deny(Reason::kNotAuthor, basis);
    }

    // Step 6: the grid, for this profession and this class.
    if (t.category != Category::kRecord) {
        const Cell cell = grid.At(a.profession, t.category);
        if (cell == Cell::kNo || (cell == Cell::kPartial && t.sensitive)) {
            return Deny(Reason::kGrid, basis);
        }
    }

    // Step 7: per-document flags. A masked document stays visible to its author, the
    // médecin traitant, the administrators, and to emergency access if the holder said so.
    if (in.action == Action::kRead && t.masked) {
        const bool exempt = (!t.author_account.empty() && t.author_account == a.account_id) ||
                            r.medecin_traitant || r.administrator;
        if (!exempt) {
            if (emergency == Basis::kNone || !p.emergency_includes_masked) {
                return Deny(Reason::kMasked, basis);
            }
            // An emergency access in force sees it even when an ordinary basis came first:
            // this read rests on the emergency access, and is logged and notified as such.
            return Allow(emergency, Notice::kImmediate, true);
        }
    }
    return Allow(basis, notice, by_emergency);
}

}  // namespace

bool NeverContent(const Actor& actor) {
    if (actor.kind == ActorKind::kAdvisor || actor.kind == ActorKind::kAdmin) return true;
    if (actor.kind != ActorKind::kProfessional) return false;
    return actor.profession == "assureur" || actor.profession == "employeur" ||
           actor.profession == "medecin-travail";
}

Decision Decide(const Grid& grid, const DecisionInput& in) {
    const Actor& a = in.actor;
    const Target& t = in.target;
    if (t.patient_id.empty()) return DecideNonPatient(in);
    // Step 1 (authentication) happened before: an Actor exists only for a proven caller.
    if (a.kind == ActorKind::kSystem) return Allow(Basis::kSystem);
    // Step 2: categories that never read content.
    if (NeverContent(a)) return Deny(Reason::kNeverContent);
    // Step 3: the record is active. Opposed and deleted records are gone for everyone; a
    // closed one is an archive its holder still reads (checked per side below).
    const std::string& status = in.patient.status;
    if (status == "opposed" || status == "deleted") return Deny(Reason::kRecordInactive);
    if (status != "active" && status != "pending" && status != "none" && status != "closed") {
        return Deny(Reason::kRecordInactive);  // unknown states fail closed
    }
    // A closed record is an archive for its holder alone; this is step 3, so it comes before
    // a block (step 4) or the lack of a basis (step 5).
    if (status == "closed" && !(a.kind == ActorKind::kPatient && in.rel.self)) {
        return Deny(Reason::kRecordInactive);
    }
    if (a.kind == ActorKind::kPatient) return DecidePatientSide(in);
    if (a.kind == ActorKind::kProfessional) return DecideProfessional(grid, in);
    return Deny(Reason::kNotPermitted);
}

std::string_view BasisName(Basis b) {
    switch (b) {
        case Basis::kNone:
            return "none";
        case Basis::kSelf:
            return "self";
        case Basis::kRepresentative:
            return "representative";
        case Basis::kCaregiver:
            return "caregiver";
        case Basis::kAuthorised:
            return "authorised";
        case Basis::kCode:
            return "code";
        case Basis::kMedecinTraitant:
            return "medecin-traitant";
        case Basis::kDesignated:
            return "designated";
        case Basis::kEtreat:
            return "ETREAT";
        case Basis::kBtg:
            return "BTG";
        case Basis::kAuthor:
            return "author";
        case Basis::kNotPatientData:
            return "not-patient-data";
        case Basis::kSystem:
            return "system";
    }
    return "none";
}

std::string_view ReasonName(Reason r) {
    switch (r) {
        case Reason::kAllowed:
            return "allowed";
        case Reason::kNeverContent:
            return "never-content";
        case Reason::kRecordInactive:
            return "record-inactive";
        case Reason::kRecordReadOnly:
            return "record-read-only";
        case Reason::kBlocked:
            return "blocked";
        case Reason::kNoBasis:
            return "no-basis";
        case Reason::kEmergencyOnly:
            return "emergency-only";
        case Reason::kEmergencyDisabled:
            return "emergency-disabled";
        case Reason::kNotRegulator:
            return "not-regulator";
        case Reason::kNeedsFreshAuth:
            return "needs-fresh-auth";
        case Reason::kNeedsReason:
            return "needs-reason";
        case Reason::kGrid:
            return "grid";
        case Reason::kMasked:
            return "masked";
        case Reason::kHiddenFromPatient:
            return "hidden-from-patient";
        case Reason::kHiddenFromDelegates:
            return "hidden-from-delegates";
        case Reason::kNotAuthor:
            return "not-author";
        case Reason::kNotPermitted:
            return "not-permitted";
    }
    return "not-permitted";
}

std::string_view ActionName(Action a) {
    switch (a) {
        case Action::kRead:
            return "read";
        case Action::kCreate:
            return "create";
        case Action::kUpdate:
            return "update";
        case Action::kDelete:
            return "delete";
        case Action::kExport:
            return "export";
        case Action::kReadAudit:
            return "read-audit";
        case Action::kManage:
            return "manage";
        case Action::kMessage:
            return "message";
        case Action::kOpenEmergency:
            return "open-emergency";
        case Action::kRedeemCode:
            return "redeem-code";
        case Action::kReleaseDocument:
            return "release-document";
    }
    return "read";
}

}  // namespace carnet::access
