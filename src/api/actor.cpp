#include "api/actor.hpp"

namespace carnet::api {

access::Actor ActorOf(const auth::AuthService& auth, const auth::Principal& who) {
    access::Actor a;
    a.account_id = who.account_id;
    if (who.kind == auth::kPatient) {
        a.kind = access::ActorKind::kPatient;
    } else if (who.kind == auth::kProfessional) {
        a.kind = access::ActorKind::kProfessional;
    } else if (who.kind == auth::kAdvisor) {
        a.kind = access::ActorKind::kAdvisor;
    } else {
        a.kind = access::ActorKind::kAdmin;  // unknown kinds are the most restricted staff
    }
    a.profession = who.profession;
    a.samu_regulator =
        a.kind == access::ActorKind::kProfessional && who.specialty == kSamuSpecialty;
    a.fresh_auth = auth.RecentlyAuthenticated(who);
    return a;
}

}  // namespace carnet::api
