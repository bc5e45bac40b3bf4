/**
 * The reply-by-email offer's strings in every language the widget speaks. They ship in its module, not with the
 * widget's other strings, so they load only with the offer; the `strings` property still overrides them.
 */
import type { ReplyByEmailStrings } from '../i18n/en.ts';

/** By language tag; `{email}` in `emailSaved` is replaced. */
export const replyByEmailStrings: Readonly<Record<string, ReplyByEmailStrings>> = {
  en: {
    emailOffer: "Nobody is online. Leave your e-mail and we'll reply there (optional).",
    emailSaved: "We'll reply to {email}.",
    emailChange: 'Change',
    emailInvalid: 'Enter a valid e-mail address.',
  },
  de: {
    emailOffer: 'Gerade ist niemand online. Wir antworten per E-Mail – hinterlassen Sie Ihre Adresse (optional).',
    emailSaved: 'Wir antworten an {email}.',
    emailChange: 'Ändern',
    emailInvalid: 'Bitte eine gültige E-Mail-Adresse eingeben.',
  },
  es: {
    emailOffer: 'Ahora no hay nadie conectado. Te responderemos por correo: deja tu dirección (opcional).',
    emailSaved: 'Te responderemos a {email}.',
    emailChange: 'Cambiar',
    emailInvalid: 'Introduce un correo electrónico válido.',
  },
  ar: {
    emailOffer: 'لا أحد متصل الآن. سنرد عبر البريد الإلكتروني — اترك عنوانك (اختياري).',
    emailSaved: 'سنرد على {email}.',
    emailChange: 'تغيير',
    emailInvalid: 'أدخل بريدًا إلكترونيًا صالحًا.',
  },
  he: {
    emailOffer: 'אין אף אחד מחובר כרגע. נענה בדוא״ל — השאירו כתובת (לא חובה).',
    emailSaved: 'נענה לכתובת {email}.',
    emailChange: 'שינוי',
    emailInvalid: 'יש להזין כתובת דוא״ל תקינה.',
  },
};
