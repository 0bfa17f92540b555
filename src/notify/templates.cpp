// The texts Carnet sends, in one place. French first (the service's language); keep every
// text free of health content: a notification says that something happened and where to
// look, never what it is. Parameters are declared per template and checked, so a caller
// cannot slip a document title or a diagnosis into a message.
#include <algorithm>
#include <array>
#include <string_view>

#include "notify/notify.hpp"

namespace carnet::notify {
namespace {

struct Template {
    std::string_view name;
    std::vector<std::string_view> params;
    std::string_view subject;
    std::string_view email;
    std::string_view sms;
};

constexpr std::string_view kFooter =
    "\n\n--\nCe message automatique vous est envoyé par Carnet, votre espace de santé.\n"
    "Ne répondez pas à ce message. Carnet ne vous demandera jamais votre mot de passe ni vos "
    "codes.";

const std::vector<Template>& Templates() {
    static const std::vector<Template> kTemplates = {
        {"login_code",
         {"code", "minutes"},
         "Votre code de connexion Carnet",
         "Bonjour,\n\nVotre code de connexion à Carnet est : {{code}}\n\nIl est valable "
         "{{minutes}} minutes et ne sert qu'une fois. Ne le communiquez à personne, pas même à "
         "un conseiller Carnet.\n\nSi vous n'avez pas demandé à vous connecter, ignorez ce "
         "message et changez votre mot de passe.",
         "Carnet : votre code de connexion est {{code}} (valable {{minutes}} min). Ne le "
         "communiquez a personne."},
        {"contact_code",
         {"code", "minutes"},
         "Confirmez votre adresse de contact Carnet",
         "Bonjour,\n\nPour confirmer cette adresse de contact dans Carnet, saisissez le code : "
         "{{code}}\n\nIl est valable {{minutes}} minutes.\n\nSi vous n'êtes pas à l'origine de "
         "cette demande, ignorez ce message.",
         "Carnet : code de confirmation {{code}} (valable {{minutes}} min)."},
        {"reset_code",
         {"code", "minutes"},
         "Réinitialisation de votre mot de passe Carnet",
         "Bonjour,\n\nUne réinitialisation du mot de passe de votre compte Carnet a été "
         "demandée. Votre code est : {{code}}\n\nIl est valable {{minutes}} minutes. Si vous "
         "n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.",
         "Carnet : code de reinitialisation {{code}} (valable {{minutes}} min). Si vous n'avez "
         "rien demande, ignorez ce message."},
        {"activation_code",
         {"code", "portal_url"},
         "Activez votre espace Carnet",
         "Bonjour,\n\nVotre espace de santé Carnet a été créé. Pour l'activer, rendez-vous sur "
         "{{portal_url}} et saisissez le code d'activation : {{code}}\n\nVous pouvez aussi "
         "vous opposer à sa création depuis la même page, sans justification.",
         "Carnet : votre code d'activation est {{code}}. Rendez-vous sur {{portal_url}}"},
        {"password_changed",
         {"portal_url"},
         "Votre mot de passe Carnet a été modifié",
         "Bonjour,\n\nLe mot de passe de votre compte Carnet vient d'être modifié et toutes vos "
         "sessions ont été fermées.\n\nSi vous n'êtes pas à l'origine de ce changement, "
         "réinitialisez votre mot de passe sur {{portal_url}} et contactez l'assistance.",
         "Carnet : votre mot de passe a ete modifie. Si ce n'est pas vous, reinitialisez-le "
         "sur {{portal_url}}"},
        {"document_added",
         {"portal_url"},
         "Un nouveau document dans votre espace Carnet",
         "Bonjour,\n\nUn nouveau document a été ajouté à votre espace Carnet. Connectez-vous "
         "pour le consulter : {{portal_url}}",
         "Carnet : un nouveau document a ete ajoute a votre espace. {{portal_url}}"},
        {"record_accessed",
         {"portal_url"},
         "Votre profil médical Carnet a été consulté",
         "Bonjour,\n\nVotre espace Carnet vient d'être consulté. Qui l'a consulté, quand et "
         "pourquoi figure dans votre historique des accès : {{portal_url}}",
         "Carnet : votre espace a ete consulte. Detail dans l'historique des acces : "
         "{{portal_url}}"},
        {"emergency_access",
         {"portal_url"},
         "Accès d'urgence à votre espace Carnet",
         "Bonjour,\n\nUn professionnel de santé vient d'ouvrir votre espace Carnet en "
         "urgence. Qui, quand et pourquoi figure dans votre historique des accès, où vous "
         "pouvez aussi désactiver l'accès d'urgence : {{portal_url}}",
         "Carnet : acces d'urgence a votre espace. Detail dans l'historique des acces : "
         "{{portal_url}}"},
        {"patient_emergency_access",
         {"portal_url"},
         "Accès d'urgence au dossier d'un de vos patients",
         "Bonjour,\n\nUn professionnel vient d'ouvrir en urgence le dossier d'un patient dont "
         "vous êtes le médecin traitant. Le détail est dans votre espace professionnel Carnet : "
         "{{portal_url}}",
         "Carnet : acces d'urgence au dossier d'un de vos patients. {{portal_url}}"},
        {"hidden_document_notice",
         {"portal_url"},
         "Un document vous sera bientôt accessible",
         "Bonjour,\n\nUn document déposé dans votre espace Carnet par un professionnel vous "
         "sera accessible dans quinze jours, ou plus tôt s'il vous le communique lors d'une "
         "consultation. Votre espace : {{portal_url}}",
         "Carnet : un document vous sera accessible dans 15 jours. {{portal_url}}"},
        {"new_message",
         {"portal_url"},
         "Un nouveau message dans votre messagerie Carnet",
         "Bonjour,\n\nVous avez reçu un nouveau message dans votre messagerie Carnet. "
         "Connectez-vous pour le lire : {{portal_url}}",
         "Carnet : vous avez un nouveau message. {{portal_url}}"},
        {"representative_invite",
         {"code", "portal_url"},
         "Invitation à gérer un espace Carnet",
         "Bonjour,\n\nVous êtes invité(e) à gérer, en tant que représentant légal, l'espace "
         "Carnet d'un enfant. Pour accepter, connectez-vous sur {{portal_url}} et saisissez le "
         "code : {{code}}",
         "Carnet : invitation de representant legal, code {{code}}. {{portal_url}}"},
        {"contact_changed",
         {"portal_url"},
         "Votre adresse de contact Carnet a été remplacée",
         "Bonjour,\n\nL'adresse de contact de votre espace Carnet vient d'être remplacée par une "
         "autre ; les messages de Carnet n'arriveront plus ici. Si vous n'êtes pas à l'origine "
         "de ce changement, contactez le support depuis {{portal_url}}",
         "Carnet : votre contact a ete remplace. Si ce n'est pas vous, contactez le support : "
         "{{portal_url}}"},
        {"caregiver_invite",
         {"code", "portal_url"},
         "Invitation à aider un proche dans Carnet",
         "Bonjour,\n\nUne personne vous a choisi(e) comme aidant(e) pour son espace Carnet. "
         "Pour accepter, connectez-vous sur {{portal_url}} et saisissez le code : {{code}}\n\n"
         "Si vous ne connaissez pas cette demande, ignorez ce message.",
         "Carnet : invitation a aider un proche, code {{code}}. {{portal_url}}"},
        {"account_deleted",
         {"portal_url"},
         "Suppression de votre espace Carnet",
         "Bonjour,\n\nVotre demande de suppression de votre espace Carnet est enregistrée. Les "
         "données seront effacées définitivement à l'échéance prévue ; d'ici là, vous pouvez "
         "annuler depuis {{portal_url}}",
         "Carnet : suppression de votre espace enregistree. Annulation possible sur "
         "{{portal_url}}"},
        {"account_closed",
         {"portal_url"},
         "Votre espace Carnet a été fermé",
         "Bonjour,\n\nVotre espace Carnet a été fermé à votre demande. Toutes vos sessions et "
         "tous les accès accordés ont pris fin. Vous pouvez le rouvrir pendant la durée de "
         "conservation légale depuis {{portal_url}}",
         "Carnet : votre espace a ete ferme a votre demande."},
    };
    return kTemplates;
}

const Template* Find(const std::string& name) {
    for (const auto& t : Templates()) {
        if (t.name == name) return &t;
    }
    return nullptr;
}

Status CheckParams(const Template& t, const Params& params) {
    for (const auto& [key, value] : params) {
        if (std::find(t.params.begin(), t.params.end(), key) == t.params.end()) {
            return Error::Invalid("template " + std::string(t.name) +
                                  " does not take the parameter " + key);
        }
        // One line, bounded: parameters are codes, counts and links, never free text.
        if (value.size() > 512 || value.find_first_of("\r\n") != std::string::npos) {
            return Error::Invalid("template parameter " + key + " is not a short single line");
        }
    }
    for (auto key : t.params) {
        if (!params.contains(std::string(key))) {
            return Error::Invalid("template " + std::string(t.name) + " needs the parameter " +
                                  std::string(key));
        }
    }
    return Ok();
}

std::string Fill(std::string_view text, const Params& params) {
    std::string out;
    out.reserve(text.size() + 64);
    size_t i = 0;
    while (i < text.size()) {
        const size_t open = text.find("{{", i);
        if (open == std::string_view::npos) break;
        const size_t close = text.find("}}", open + 2);
        if (close == std::string_view::npos) break;
        out.append(text.substr(i, open - i));
        const std::string key(text.substr(open + 2, close - open - 2));
        auto it = params.find(key);
        if (it != params.end()) out += it->second;
        i = close + 2;
    }
    out.append(text.substr(i));
    return out;
}

}  // namespace

std::vector<std::string> TemplateNames() {
    std::vector<std::string> names;
    for (const auto& t : Templates()) names.emplace_back(t.name);
    return names;
}

Result<Rendered> Render(Channel channel, const std::string& template_name, const Params& params) {
    const Template* t = Find(template_name);
    if (!t) return Error::Invalid("unknown notification template " + template_name);
    CARNET_CHECK(CheckParams(*t, params));
    Rendered r;
    r.subject = std::string(t->subject);
    if (channel == Channel::kSms) {
        r.text = Fill(t->sms, params);
    } else {
        r.text = Fill(t->email, params);
        if (channel == Channel::kEmail) r.text += kFooter;
    }
    return r;
}

}  // namespace carnet::notify
