import type { Locale } from "../lib/locale";

/** Every string the hosted pages show, per locale. */
export const PAGE_COPY = {
  en: {
    appName: "edge-invites",
    inviteTitle: (tenant: string) => `Join ${tenant}`,
    inviteIntro: (role: string) => `You have been invited to join as ${role}.`,
    inviteFor: (email: string) => `This invitation is for ${email}.`,
    inviteExpires: (when: string) => `It expires on ${when}.`,
    inviteStatus: {
      Used: "This invitation has already been used.",
      Expired: "This invitation has expired. Ask whoever invited you for a new one.",
      Revoked: "This invitation has been revoked.",
    },
    createAccount: "Create an account",
    createAccountSubmit: "Create account and join",
    haveAccount: "I already have an account",
    haveAccountSubmit: "Sign in and accept",
    email: "Email",
    password: "Password",
    newPassword: "New password",
    passwordHint: "8 to 256 characters.",
    errorSummary: "There is a problem",
    joinedTitle: (tenant: string) => `Welcome to ${tenant}`,
    joinedBody: (role: string, email: string) => `${email} is now a member, as ${role}.`,
    continue: "Continue to the app",
    notFoundTitle: "Link not found",
    notFoundBody: "This link does not match any invitation. Check that you copied all of it.",
    forbiddenTitle: "Request refused",
    forbiddenBody: "This form must be sent from this site. Go back, reload the page and try again.",
    verifyTitle: "Confirm your email address",
    verifyBody: "Press the button to confirm that this is your email address.",
    verifySubmit: "Confirm my email",
    verifiedTitle: "Email confirmed",
    verifiedBody: "Thank you: your email address is confirmed.",
    resetTitle: "Choose a new password",
    resetSubmit: "Save the new password",
    resetDoneTitle: "Password changed",
    resetDoneBody: "Your password is changed and every session was signed out. Sign in with the new password.",
    genericError: "Something went wrong. Try again in a moment.",
  },
  "pt-BR": {
    appName: "edge-invites",
    inviteTitle: (tenant: string) => `Participe de ${tenant}`,
    inviteIntro: (role: string) => `Você foi convidado para participar como ${role}.`,
    inviteFor: (email: string) => `Este convite é para ${email}.`,
    inviteExpires: (when: string) => `Ele expira em ${when}.`,
    inviteStatus: {
      Used: "Este convite já foi usado.",
      Expired: "Este convite expirou. Peça um novo a quem convidou você.",
      Revoked: "Este convite foi revogado.",
    },
    createAccount: "Criar uma conta",
    createAccountSubmit: "Criar conta e participar",
    haveAccount: "Já tenho uma conta",
    haveAccountSubmit: "Entrar e aceitar",
    email: "E-mail",
    password: "Senha",
    newPassword: "Nova senha",
    passwordHint: "De 8 a 256 caracteres.",
    errorSummary: "Há um problema",
    joinedTitle: (tenant: string) => `Bem-vindo a ${tenant}`,
    joinedBody: (role: string, email: string) => `${email} agora é membro, como ${role}.`,
    continue: "Continuar para o aplicativo",
    notFoundTitle: "Link não encontrado",
    notFoundBody: "Este link não corresponde a nenhum convite. Verifique se você o copiou por inteiro.",
    forbiddenTitle: "Pedido recusado",
    forbiddenBody: "Este formulário precisa ser enviado a partir deste site. Volte, recarregue a página e tente de novo.",
    verifyTitle: "Confirme seu endereço de e-mail",
    verifyBody: "Pressione o botão para confirmar que este é o seu endereço de e-mail.",
    verifySubmit: "Confirmar meu e-mail",
    verifiedTitle: "E-mail confirmado",
    verifiedBody: "Obrigado: seu endereço de e-mail está confirmado.",
    resetTitle: "Escolha uma nova senha",
    resetSubmit: "Salvar a nova senha",
    resetDoneTitle: "Senha alterada",
    resetDoneBody: "Sua senha foi alterada e todas as sessões foram encerradas. Entre com a nova senha.",
    genericError: "Algo deu errado. Tente de novo em instantes.",
  },
} as const;

export type PageCopy = (typeof PAGE_COPY)[Locale];

/** The API's error codes, said for people. Unknown codes fall back to the API's own message. */
const ERROR_COPY: Record<Locale, Record<string, string>> = {
  en: {
    INVITE_NOT_FOUND: "This link does not match any invitation.",
    INVITE_USED: "This invitation has already been used.",
    INVITE_EXPIRED: "This invitation has expired. Ask whoever invited you for a new one.",
    INVITE_REVOKED: "This invitation has been revoked.",
    INVITE_AUTHORITY_LAPSED: "Whoever sent this invitation can no longer grant this role. Ask for a new invitation.",
    EMAIL_TAKEN: "An account with this email already exists. Use “I already have an account” instead.",
    EMAIL_MISMATCH: "This invitation was sent to a different email address.",
    EMAIL_NOT_VERIFIED: "Confirm your email address first: we sent you a link.",
    ALREADY_MEMBER: "You are already a member of this organization.",
    INVALID_CREDENTIALS: "The email or password is not right.",
    INVALID_VERIFICATION_TOKEN: "This confirmation link is not valid any more. Ask for a new one.",
    INVALID_RESET_TOKEN: "This password reset link is not valid any more. Ask for a new one.",
    RATE_LIMITED: "Too many attempts. Wait a while and try again.",
    SERVICE_UNAVAILABLE: "The service is briefly unavailable. Try again in a moment.",
  },
  "pt-BR": {
    INVITE_NOT_FOUND: "Este link não corresponde a nenhum convite.",
    INVITE_USED: "Este convite já foi usado.",
    INVITE_EXPIRED: "Este convite expirou. Peça um novo a quem convidou você.",
    INVITE_REVOKED: "Este convite foi revogado.",
    INVITE_AUTHORITY_LAPSED: "Quem enviou este convite não pode mais conceder este papel. Peça um novo convite.",
    EMAIL_TAKEN: "Já existe uma conta com este e-mail. Use “Já tenho uma conta”.",
    EMAIL_MISMATCH: "Este convite foi enviado para outro endereço de e-mail.",
    EMAIL_NOT_VERIFIED: "Confirme seu endereço de e-mail primeiro: enviamos um link para você.",
    ALREADY_MEMBER: "Você já é membro desta organização.",
    INVALID_CREDENTIALS: "O e-mail ou a senha não estão corretos.",
    INVALID_VERIFICATION_TOKEN: "Este link de confirmação não é mais válido. Peça um novo.",
    INVALID_RESET_TOKEN: "Este link de redefinição de senha não é mais válido. Peça um novo.",
    RATE_LIMITED: "Tentativas demais. Aguarde um pouco e tente de novo.",
    SERVICE_UNAVAILABLE: "O serviço está indisponível por um instante. Tente de novo em breve.",
  },
};

/** Field messages are the API's (English) zod messages; these say the same per locale. */
const FIELD_COPY: Record<Locale, Record<string, string>> = {
  en: {
    email: "Enter a valid email address.",
    password: "The password must be 8 to 256 characters.",
  },
  "pt-BR": {
    email: "Informe um endereço de e-mail válido.",
    password: "A senha deve ter de 8 a 256 caracteres.",
  },
};

export const errorText = (locale: Locale, code: string, fallback: string): string => ERROR_COPY[locale][code] ?? fallback;
export const fieldText = (locale: Locale, field: string, fallback: string): string => FIELD_COPY[locale][field] ?? fallback;
